"""Anchor for bench_process.c: asyncio.create_subprocess_exec + wait of /bin/true, n times one
after another; prints processes per second (the interpreter's start-up is not timed)."""
import asyncio
import sys
import time


async def main(n):
    t0 = time.perf_counter()
    for _ in range(n):
        p = await asyncio.create_subprocess_exec("/bin/true")
        if await p.wait() != 0:
            sys.exit(1)
    return n / (time.perf_counter() - t0)


print(f"{asyncio.run(main(int(sys.argv[1]))):.2f}")
