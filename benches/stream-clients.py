#!/usr/bin/env python3
"""Holds N idle clients on sightline's GET /api/stream (for the benches): connects them, reads
and discards every message, and reports how many are connected and how many messages arrived.

    benches/stream-clients.py --admin 127.0.0.1:19190 --clients 1000 --seconds 120
"""
import argparse
import selectors
import socket
import sys
import time

REQUEST = b"GET /api/stream HTTP/1.1\r\nHost: admin\r\nAccept: text/event-stream\r\n\r\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--admin", default="127.0.0.1:19190")
    ap.add_argument("--clients", type=int, default=1000)
    ap.add_argument("--seconds", type=float, default=120.0)
    ap.add_argument("--ready-timeout", type=float, default=300.0)
    a = ap.parse_args()
    host, port = a.admin.rsplit(":", 1)
    addr = (host, int(port))
    deadline = time.time() + a.ready_timeout
    while True:
        try:
            socket.create_connection(addr, timeout=1).close()
            break
        except OSError:
            if time.time() > deadline:
                sys.exit(f"admin {a.admin} never answered")
            time.sleep(0.2)
    sel = selectors.DefaultSelector()
    started = time.time()
    messages = 0
    for i in range(a.clients):
        while True:
            try:
                s = socket.create_connection(addr, timeout=30)
                break
            except OSError:
                time.sleep(0.05)
        s.sendall(REQUEST)
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
        if i % 50 == 49:  # keep the accept backlog short; drain what arrived meanwhile
            for key, _ in sel.select(timeout=0):
                messages += drain(key.fileobj)
    print(f"stream-clients: {a.clients} connected in {time.time() - started:.1f} s", file=sys.stderr, flush=True)
    end = time.time() + a.seconds
    last = time.time()
    while time.time() < end:
        for key, _ in sel.select(timeout=1):
            messages += drain(key.fileobj)
        if time.time() - last >= 10:
            print(f"stream-clients: {len(sel.get_map())} open, {messages} events so far", file=sys.stderr, flush=True)
            last = time.time()
    print(f"stream-clients: done, {len(sel.get_map())} open, {messages} events", file=sys.stderr, flush=True)


def drain(s):
    try:
        data = s.recv(1 << 20)
    except BlockingIOError:
        return 0
    except OSError:
        data = b""
    if not data:
        s.close()
        return 0
    return data.count(b"\nevent: ")


if __name__ == "__main__":
    main()
