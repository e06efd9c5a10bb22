/* The parser fuzz target's properties (tests/fuzz/fuzz_http_parse.c) over its committed seed
 * corpus, built with the ordinary compiler: every `make test` replays the seeds, so a
 * regression they catch does not wait for the next fuzzing run (scripts/fuzz.sh). The seed
 * chunk_overflow is the fuzzer's first find: as a response it was refused when split into
 * reads but accepted as incomplete when whole. */
#include <dirent.h>
#include <sys/stat.h>

#include "eddy/test.h"
#include "fuzz/fuzz_http_parse.c"

EDDY_TEST_EX(http_fuzz_corpus_replays, .raw = true)
{
    const char *dir = EDDY_SOURCE_DIR "/tests/fuzz/corpus/http_parse";
    DIR *d = opendir(dir);
    EDDY_CHECK(d != NULL);
    int files = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "rb");
        EDDY_CHECK(f != NULL);
        static uint8_t buf[65536];
        size_t n = fread(buf, 1, sizeof buf, f);
        fclose(f);
        /* also every prefix: the properties must hold for any split of the stream */
        for (size_t k = 1; k <= n; k += (n > 64 ? n / 64 : 1)) LLVMFuzzerTestOneInput(buf, k);
        LLVMFuzzerTestOneInput(buf, n);
        files++;
    }
    closedir(d);
    EDDY_CHECK(files >= 40);
    return 0;
}
