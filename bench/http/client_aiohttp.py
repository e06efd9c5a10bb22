#!/usr/bin/env python3
"""The HTTP client benchmark's anchor (scripts/bench_http_client.sh): N asyncio tasks (default
10) fetch one URL over and over through one aiohttp ClientSession whose connector holds N
keep-alive connections, for a given time, each body read to its end -- the same work as
bench/bench_http_client.c.

    client_aiohttp.py [--tasks N] [--duration SECONDS] [--warmup SECONDS] [--uvloop] URL

Prints key=value lines like the eddy side (requests, seconds, rps, cpu_us_per_req)."""
import argparse
import asyncio
import resource
import sys
import time

import aiohttp


def cpu_s():
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime


async def phase(session, url, tasks, secs, counter):
    stop = time.monotonic() + secs

    async def worker():
        while time.monotonic() < stop:
            async with session.get(url) as r:
                await r.read()
                if r.status != 200:
                    raise RuntimeError(f"status {r.status}")
            if counter is not None:
                counter[0] += 1

    await asyncio.gather(*(worker() for _ in range(tasks)))


async def main(a):
    connector = aiohttp.TCPConnector(limit=a.tasks)
    async with aiohttp.ClientSession(connector=connector) as session:
        await phase(session, a.url, a.tasks, a.warmup, None)
        counter = [0]
        c0, t0 = cpu_s(), time.monotonic()
        await phase(session, a.url, a.tasks, a.duration, counter)
        secs, cpu = time.monotonic() - t0, cpu_s() - c0
    n = counter[0]
    print(f"bench=http_client_aiohttp\nrequests={n}\nseconds={secs:.3f}\nrps={n / secs:.0f}\n"
          f"cpu_us_per_req={cpu * 1e6 / n if n else 0:.2f}")


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--tasks", type=int, default=10)
    p.add_argument("--duration", type=float, default=5)
    p.add_argument("--warmup", type=float, default=0.5)
    p.add_argument("--uvloop", action="store_true")
    p.add_argument("url")
    a = p.parse_args()
    if a.uvloop:
        import uvloop
        uvloop.install()
    asyncio.run(main(a))
    sys.exit(0)
