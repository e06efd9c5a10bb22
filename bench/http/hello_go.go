// hello_go: Go's net/http answering GET / with "Hello, World!\n" (text/plain), the third
// anchor of the HTTP benchmark (scripts/bench_http.sh runs it with GOMAXPROCS=1, pinned).
//
//	hello_go PORT
package main

import (
	"fmt"
	"net/http"
	"os"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: hello_go PORT")
		os.Exit(2)
	}
	body := []byte("Hello, World!\n")
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		w.Write(body)
	})
	if err := http.ListenAndServe("127.0.0.1:"+os.Args[1], nil); err != nil {
		fmt.Fprintln(os.Stderr, "hello_go:", err)
		os.Exit(1)
	}
}
