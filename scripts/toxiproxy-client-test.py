#!/usr/bin/env python3
"""A published toxiproxy client (toxiproxy-python, import name `toxiproxy`) against rrbench's
toxiproxy API: create a proxy, add latency, bandwidth and slicer, observe them on the wire,
remove them, take the proxy down, reset, populate. Usage: toxiproxy-client-test.py API_HOST:PORT

Exits 0 when every step saw what toxiproxy would give; prints one line per step."""

import socket
import sys
import threading
import time

from toxiproxy import Toxiproxy
from toxiproxy.exceptions import InvalidToxic, NotFound


def echo_server():
    """An echo server on 127.0.0.1; returns its address."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)

    def serve(conn):
        with conn:
            while True:
                data = conn.recv(65536)
                if not data:
                    return
                conn.sendall(data)

    def accept():
        while True:
            conn, _ = listener.accept()
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    return "127.0.0.1:%d" % listener.getsockname()[1]


def connect(listen):
    host, port = listen.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=5)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def rtt(s):
    """The median round trip of a small echoed message, in seconds."""
    times = []
    for _ in range(5):
        start = time.monotonic()
        s.sendall(b"ping")
        got = b""
        while len(got) < 4:
            chunk = s.recv(4 - len(got))
            if not chunk:
                raise RuntimeError("the connection closed")
            got += chunk
        times.append(time.monotonic() - start)
    return sorted(times)[2]


def echo_time(s, size):
    """How long `size` bytes take there and back."""
    data = b"x" * size
    start = time.monotonic()
    sender = threading.Thread(target=s.sendall, args=(data,))
    sender.start()
    got = 0
    while got < size:
        chunk = s.recv(65536)
        if not chunk:
            raise RuntimeError("the connection closed")
        got += len(chunk)
    sender.join()
    return time.monotonic() - start


def echo_reads(s, size):
    """The sizes of the reads that bring `size` echoed bytes back."""
    s.sendall(b"y" * size)
    reads = []
    while sum(reads) < size:
        chunk = s.recv(65536)
        if not chunk:
            raise RuntimeError("the connection closed")
        reads.append(len(chunk))
    return reads


def check(what, ok, detail=""):
    print("%s %s%s" % ("ok  " if ok else "FAIL", what, (": " + detail) if detail else ""))
    if not ok:
        sys.exit(1)


def main():
    host, port = sys.argv[1].rsplit(":", 1)
    server = Toxiproxy()
    server.update_api_consumer(host, int(port))
    check("server running", server.running())
    check("version", server.version() is not None, repr(server.version()))

    upstream = echo_server()
    proxy = server.create(upstream=upstream, name="python", listen="127.0.0.1:0")
    check("create", proxy.enabled and proxy.listen.startswith("127.0.0.1:"), proxy.listen)
    check("listed", "python" in server.proxies())

    conn = connect(proxy.listen)
    before = rtt(conn)
    proxy.add_toxic(type="latency", attributes={"latency": 100})
    toxics = proxy.toxics()
    check("latency listed", "latency_downstream" in toxics
          and toxics["latency_downstream"].attributes["latency"] == 100, str(list(toxics)))
    with_latency = rtt(conn)
    check("latency on the wire (open connection)", with_latency >= before + 0.09,
          "rtt %.1f ms -> %.1f ms" % (before * 1e3, with_latency * 1e3))

    proxy.add_toxic(type="bandwidth", name="slow", attributes={"rate": 500})
    took = echo_time(conn, 400_000)
    # 400 kB at 500 KB/s (toxiproxy's KB is 1000 bytes) is 0.8 s on the wire, plus the latency.
    # The pacer never runs ahead of the rate (chaos/tests/sim.rs), so the floor is firm; the
    # ceiling is loose for a loaded machine.
    check("bandwidth on the wire", 0.8 <= took <= 4.0, "400 kB in %.2f s at 500 KB/s" % took)

    check("remove latency", proxy.destroy_toxic("latency_downstream"))
    check("remove bandwidth", proxy.destroy_toxic("slow"))
    check("no toxics", proxy.toxics() == {})
    after = rtt(conn)
    check("latency gone", after < 0.05, "rtt %.1f ms" % (after * 1e3))
    took = echo_time(conn, 400_000)
    check("bandwidth gone", took < 0.5, "400 kB in %.3f s" % took)

    proxy.add_toxic(type="slicer",
                    attributes={"average_size": 8, "size_variation": 3, "delay": 5000})
    sliced = proxy.toxics()["slicer_downstream"].attributes
    check("slicer listed", sliced == {"average_size": 8, "size_variation": 3, "delay": 5000},
          repr(sliced))
    reads = echo_reads(conn, 64)
    # 64 bytes in slices of 5 to 11 bytes, 5 ms apart: several reads, even if some merge.
    check("slicer on the wire: many small reads", len(reads) >= 3 and max(reads) < 64,
          "64 bytes in reads of %s" % reads)
    try:
        proxy.add_toxic(type="slicer", name="bad", attributes={"average_size": 0})
        check("slicer of average_size 0 refused", False, "taken")
    except InvalidToxic as e:
        check("slicer of average_size 0 refused (InvalidToxic)", True, str(e)[:90])
    check("remove slicer", proxy.destroy_toxic("slicer_downstream"))
    reads = echo_reads(conn, 64)
    check("slicer gone", len(reads) <= 2, "64 bytes in reads of %s" % reads)

    with proxy.down():
        refused = False
        try:
            connect(proxy.listen).close()
        except OSError:
            refused = True
        check("down: connections refused", refused)
    fresh = connect(proxy.listen)
    check("up again", rtt(fresh) < 0.05)

    proxy.add_toxic(type="latency", attributes={"latency": 100})
    proxy.disable()
    check("reset", server.reset())
    again = server.get_proxy("python")
    check("reset enabled it and removed its toxics", again.enabled and again.toxics() == {})

    populated = server.populate([
        {"name": "python-2", "upstream": upstream, "listen": "127.0.0.1:0"},
    ])
    check("populate", [p.name for p in populated] == ["python-2"])
    for p in list(server.proxies().values()):
        if p.name.startswith("python"):
            check("destroy " + p.name, server.destroy(p))
    try:
        again.toxics()
        check("destroyed proxy gone", False)
    except NotFound:
        check("destroyed proxy gone (NotFound)", True)
    print("toxiproxy-python: every step passed")


if __name__ == "__main__":
    main()
