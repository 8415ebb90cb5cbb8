#!/usr/bin/env python3
"""kvmbox control-plane benchmark (bench/control.sh): figures with references measured in the same
run, medians of repetitions; nothing asserted.
  1. process start to API socket ready (a GET / answered), and the CPU time kvmbox used until then,
     vs. starting /bin/true (the cost of any process start on this host)
  2. InstanceStart request to its reply (a bare-metal guest), vs. a GET / round trip
  3. PATCH /vm Paused and Resumed latency with the guest running, vs. a GET / round trip
"""
import os, socket, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KVMBOX = os.environ.get("KVMBOX", os.path.join(ROOT, "build/kvmbox"))
GUEST = os.path.join(ROOT, "build/guests/spin.elf")
REPS = int(os.environ.get("REPS", "15"))
TCK = os.sysconf("SC_CLK_TCK")


def request(path_sock, method, path, body=None, timeout=10):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(timeout)
    s.connect(path_sock)
    data = body.encode() if body else b""
    head = f"{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
    head += f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n"
    s.sendall(head.encode() + data)
    resp = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        resp += chunk
    s.close()
    return int(resp.split(b" ", 2)[1])


def timed(fn):
    t0 = time.perf_counter()
    r = fn()
    return (time.perf_counter() - t0) * 1000.0, r


def cpu_ms(pid):
    # schedstat: nanoseconds on a CPU (the main thread is the only one before InstanceStart)
    with open(f"/proc/{pid}/schedstat") as f:
        return int(f.read().split()[0]) / 1e6


def start_server(d, extra=()):
    sock = os.path.join(d, "api.sock")
    try:
        os.unlink(sock)
    except FileNotFoundError:
        pass
    t0 = time.perf_counter()
    p = subprocess.Popen([KVMBOX, "--api-sock", sock, *extra], stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while True:
        try:
            if request(sock, "GET", "/", timeout=1) == 200:
                break
        except OSError:
            time.sleep(0.0002)
        if p.poll() is not None:
            raise RuntimeError("kvmbox exited before its socket answered")
    ready = (time.perf_counter() - t0) * 1000.0
    return p, sock, ready


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def row(what, kvm, ref, refname):
    ratio = kvm / ref if ref else float("nan")
    print(f"| {what} | {kvm:.2f} ms | {refname} {ref:.2f} ms | {ratio:.2f} |")


def main():
    print("| what | kvmbox | reference (same run) | ratio |")
    print("|---|---|---|---|")
    ready, cpu, true_ms = [], [], []
    with tempfile.TemporaryDirectory() as d:
        for _ in range(REPS):
            t, _r = timed(lambda: subprocess.run(["/bin/true"]))
            true_ms.append(t)
            p, sock, r = start_server(d)
            ready.append(r)
            cpu.append(cpu_ms(p.pid))
            p.kill()
            p.wait()
        row("process start to API ready", med(ready), med(true_ms), "exec of /bin/true")
        print(f"| CPU time used by then | {med(cpu):.2f} ms | Firecracker's published bound "
              f"8 ms | {med(cpu) / 8:.3f} |")

        if not os.path.exists(GUEST):
            print(f"| (no {GUEST}: run make) | | | |")
            return
        start, get, pause, resume = [], [], [], []
        for _ in range(max(3, REPS // 3)):
            p, sock, _r = start_server(d)
            request(sock, "PUT", "/boot-source",
                    '{"kernel_image_path": "%s", "boot_args": "shift=30"}' % GUEST)
            request(sock, "PUT", "/machine-config", '{"vcpu_count": 1, "mem_size_mib": 64}')
            t, code = timed(lambda: request(sock, "PUT", "/actions",
                                            '{"action_type": "InstanceStart"}'))
            if code != 204:
                raise RuntimeError(f"InstanceStart gave {code}")
            start.append(t)
            for _ in range(10):
                get.append(timed(lambda: request(sock, "GET", "/"))[0])
                pause.append(timed(lambda: request(sock, "PATCH", "/vm", '{"state": "Paused"}'))[0])
                resume.append(timed(lambda: request(sock, "PATCH", "/vm", '{"state": "Resumed"}'))[0])
            p.kill()
            p.wait()
        row("InstanceStart to its reply", med(start), med(get), "GET / round trip")
        row("pause (PATCH /vm Paused)", med(pause), med(get), "GET / round trip")
        row("resume (PATCH /vm Resumed)", med(resume), med(get), "GET / round trip")


if __name__ == "__main__":
    sys.exit(main())
