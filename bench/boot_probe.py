#!/usr/bin/env python3
"""boot_probe: start a VMM, time how long until a marker appears on its console, optionally
measure its memory overhead from /proc/PID/smaps, then stop it (by its PID only).

Usage: boot_probe.py [--marker S] [--timeout S] [--hold S] [--mem-mib M] [--log FILE]
                     [--fail-pattern S]... -- CMD ARGS...
Prints one line of key=value pairs (bench/run.sh parses it):
  status=ok marker_s=T [rss_kib=A guest_kib=G overhead_kib=A-G guest_map_mib=S]
  status=fail elapsed_s=T reason="..."
The VMM gets a pipe as stdin that stays open (so a guest shell waits instead of seeing EOF);
its stdout and stderr are read together and written to --log.
"""
import argparse
import os
import re
import select
import signal
import subprocess
import sys
import time


def smaps_overhead(pid, mem_bytes):
    """Total Rss of pid, and the Rss of its guest-RAM mapping: the anonymous mapping whose size
    equals guest memory (else the smallest anonymous one at least that big, for VMMs that add
    guard pages or alignment); the one with the largest Rss if several fit."""
    maps = []
    cur = None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            m = re.match(r"^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ (\d+)\s*(.*)$", line)
            if m:
                cur = {
                    "size": int(m.group(2), 16) - int(m.group(1), 16),
                    "anon": m.group(3) == "0" and (m.group(4) == "" or m.group(4).startswith("[anon")),
                    "rss": 0,
                }
                maps.append(cur)
            elif line.startswith("Rss:") and cur is not None:
                cur["rss"] = int(line.split()[1])
    total = sum(m["rss"] for m in maps)
    exact = [m for m in maps if m["anon"] and m["size"] == mem_bytes]
    near = [m for m in maps if m["anon"] and mem_bytes <= m["size"] <= mem_bytes + (64 << 20)]
    cands = exact or near
    if not cands:
        return total, None, None
    g = max(cands, key=lambda m: m["rss"])
    return total, g["rss"], g["size"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--marker", default="KVMBOX-INIT-OK")
    ap.add_argument("--timeout", type=float, default=180)
    ap.add_argument("--hold", type=float, default=-1,
                    help="seconds to wait after the marker, then read smaps (<0: no smaps)")
    ap.add_argument("--mem-mib", type=int, default=512)
    ap.add_argument("--log", default=os.devnull)
    ap.add_argument("--fail-pattern", action="append", default=[])
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
    if not cmd:
        ap.error("no command")

    marker = a.marker.encode()
    fails = [p.encode() for p in a.fail_pattern]
    log = open(a.log, "wb")
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, start_new_session=True)
    fd = p.stdout.fileno()
    buf = b""
    result = None
    fail_at = None
    while True:
        now = time.monotonic()
        if fail_at is not None and now - fail_at > 1.5:
            break  # the VMM's register dump after the failure is in
        if now - t0 > a.timeout:
            result = f'status=fail elapsed_s={now - t0:.2f} reason="timeout after {a.timeout:.0f} s without the marker"'
            break
        r, _, _ = select.select([fd], [], [], 0.2)
        if not r:
            continue
        chunk = os.read(fd, 65536)
        if not chunk:
            p.wait()
            if fail_at is None:
                result = (f'status=fail elapsed_s={time.monotonic() - t0:.2f} '
                          f'reason="exited with status {p.returncode} before the marker"')
            break
        log.write(chunk)
        start = max(0, len(buf) - len(marker) - 256)
        buf += chunk
        tail = buf[start:]
        if fail_at is None and marker in tail:
            t = time.monotonic() - t0
            result = f"status=ok marker_s={t:.2f}"
            if a.hold >= 0:
                end = time.monotonic() + a.hold
                while time.monotonic() < end:  # keep draining the console meanwhile
                    r, _, _ = select.select([fd], [], [], 0.1)
                    if r:
                        c = os.read(fd, 65536)
                        if not c:
                            break
                        log.write(c)
                try:
                    total, guest, gsize = smaps_overhead(p.pid, a.mem_mib << 20)
                    if guest is None:
                        result += f" rss_kib={total} guest_kib=NA overhead_kib=NA"
                    else:
                        result += (f" rss_kib={total} guest_kib={guest} overhead_kib={total - guest}"
                                   f" guest_map_mib={gsize >> 20}")
                except OSError as e:
                    result += f' smaps_error="{e}"'
            break
        if fail_at is None and any(f in tail for f in fails):
            fail_at = time.monotonic()

    if fail_at is not None and result is None:
        text = buf.decode("utf-8", "replace").replace("\r", "")
        lines = text.split("\n")
        why = next((l.strip() for l in lines if any(f.decode() in l for f in fails)), "?")
        code = next((l for l in lines if l.startswith("Code=")), "")
        m = re.search(r"<([0-9a-f]{2})>", code)
        insn = ""
        if m:
            insn = f" at instruction byte {m.group(1)}" + (" (int3)" if m.group(1) == "cc" else "")
            rip = re.search(r"RIP=([0-9a-f]+)", text)
            if rip:
                insn += f" RIP={rip.group(1)}"
        klines = [l.strip() for l in lines if re.match(r"^\[\s*\d+\.\d+\]", l.strip())]
        last = klines[-1] if klines else ""
        result = (f'status=fail elapsed_s={fail_at - t0:.2f} reason="{why}{insn}; '
                  f'last kernel line: {last[:100]}"')

    if p.poll() is None:
        os.kill(p.pid, signal.SIGTERM)
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.kill(p.pid, signal.SIGKILL)
            p.wait()
    # Drain whatever is left for the log.
    os.set_blocking(fd, False)
    try:
        while select.select([fd], [], [], 0.2)[0]:
            rest = os.read(fd, 65536)
            if not rest:
                break
            log.write(rest)
    except OSError:
        pass
    log.close()
    print(result.replace("\n", " "))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
