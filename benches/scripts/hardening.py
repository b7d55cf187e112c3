# Issue 14 figures against one binary (old and new, to compare): python3 benches/scripts/hardening.py BIN
# Starts the binary on loopback in temp dirs; takes about two minutes (a silent connection is
# watched for up to 70 s).
import json, os, resource, socket, subprocess, sys, tempfile, threading, time, urllib.request, urllib.error

BIN = sys.argv[1]

def start(args=(), nofile=None):
    d = tempfile.mkdtemp()
    env = dict(os.environ, WHOOT_LOG="error")
    pre = (lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))) if nofile else None
    p = subprocess.Popen([BIN, "serve", "--listen", "127.0.0.1:0", "--data-dir", d, "--rate-limit", "0", *args],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True, preexec_fn=pre)
    for line in p.stdout:
        if line.startswith("listening on http://"):
            addr = line.strip().split("http://")[1]
            break
    key = open(os.path.join(d, "initial-api-key")).read().strip()
    threading.Thread(target=lambda: [None for _ in p.stdout], daemon=True).start()
    return p, addr, key, d

def req(addr, method, path, key=None, body=None, timeout=30, headers=None):
    data = json.dumps(body).encode() if body is not None else None
    r = urllib.request.Request(f"http://{addr}{path}", data=data, method=method)
    if key: r.add_header("Authorization", f"Bearer {key}")
    if data: r.add_header("Content-Type", "application/json")
    for k, v in (headers or {}).items(): r.add_header(k, v)
    try:
        with urllib.request.urlopen(r, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except Exception as e:
        return None, str(e).encode()

def rss_mb(p):
    for line in open(f"/proc/{p.pid}/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024

SEARCH = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
out = {}
# 1. 8,000-term flat filter through .search
p, addr, key, d = start()
f = " and ".join(["userName pr"] * 8000)
st, _ = req(addr, "POST", "/scim/v2/Users/.search", key, {"schemas": [SEARCH], "filter": f})
time.sleep(0.5)
out["1 flat 8,000-term filter (POST /Users/.search)"] = f"status {st}, server alive afterwards: {p.poll() is None}"
f = " and ".join(["userName pr"] * 60000)
st, _ = req(addr, "POST", "/scim/v2/Users/.search", key, {"schemas": [SEARCH], "filter": f})
time.sleep(0.5)
out["1b flat 60,000-term filter (960 KB, POST /Users/.search)"] = f"status {st}, server alive afterwards: {p.poll() is None}"
p.kill()

# 2. 10,000 users: a 40 KB filter; active eq true&count=1 (time, RSS)
p, addr, key, d = start()
subprocess.run([BIN, "tenant", "set-seats", "default", "100000", "--data-dir", d], capture_output=True)
for b in range(10):
    ops = [{"method": "POST", "path": "/Users", "bulkId": f"u{b}-{i}", "data": {"userName": f"u{b}-{i}@example.com"}} for i in range(1000)]
    st, body = req(addr, "POST", "/scim/v2/Bulk", key, {"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": ops}, timeout=120)
    assert st == 200, body[:300]
f40 = " or ".join([f'userName eq "nobody{i}@example.com"' for i in range(1300)])
t = time.time(); st, _ = req(addr, "POST", "/scim/v2/Users/.search", key, {"schemas": [SEARCH], "filter": f40}, timeout=120)
out["2a 10,000 users, a %d-byte filter" % len(f40)] = f"status {st} in {time.time()-t:.3f} s"
f8 = " or ".join([f'userName eq "n{i}@x"' for i in range(250)])
t = time.time(); st, _ = req(addr, "POST", "/scim/v2/Users/.search", key, {"schemas": [SEARCH], "filter": f8}, timeout=120)
out["2b 10,000 users, a %d-byte filter of 250 terms" % len(f8)] = f"status {st} in {time.time()-t:.3f} s"
before = rss_mb(p)
t = time.time(); st, _ = req(addr, "GET", "/scim/v2/Users?filter=active%20eq%20true&count=1", key, timeout=120)
out["2c 10,000 users, filter=active eq true&count=1"] = f"status {st} in {time.time()-t:.3f} s, RSS {before:.0f} -> {rss_mb(p):.0f} MB"
# 3. sortBy over mixed types
for i, v in enumerate([["+1 555", 5550101, True, "x", 7.5][i % 5] for i in range(300)]):
    req(addr, "POST", "/scim/v2/Users", key, {"userName": f"mix{i}@x", "phoneNumbers": [{"value": v}]})
st, _ = req(addr, "GET", "/scim/v2/Users?filter=userName%20sw%20%22mix%22&sortBy=phoneNumbers.value", key)
st2, _ = req(addr, "GET", "/scim/v2/Users?sortBy=phoneNumbers.value&count=5", key)
out["3 sortBy=phoneNumbers.value over mixed types"] = f"status {st} (filtered), {st2} (all 10,003)"
p.kill()

# 4. a bad request every 0.5 s from one address; a valid key from the same address, 200 requests
p, addr, key, d = start()
stop = False
def bad():
    while not stop:
        req(addr, "GET", "/me", "wh_live_wrong"); time.sleep(0.5)
threading.Thread(target=bad, daemon=True).start()
time.sleep(16)
fails = 0
for i in range(200):
    st, _ = req(addr, "GET", "/me", key)
    fails += st != 200
    time.sleep(0.02)
stop = True
out["4 valid key's requests refused while one client sends a bad key every 0.5 s"] = f"{fails} of 200"
p.kill()

# 5. 1,100 idle connections with RLIMIT_NOFILE 1024, then GET /me; an announced 8 MiB body
p, addr, key, d = start(nofile=1024)
host, port = addr.rsplit(":", 1)
idle = []
for i in range(1100):
    try:
        idle.append(socket.create_connection((host, int(port)), timeout=2))
    except Exception:
        break
time.sleep(0.5)
t = time.time(); st, err = req(addr, "GET", "/me", key, timeout=10)
out["5a GET /me with 1,100 idle connections, server RLIMIT_NOFILE 1024"] = f"status {st} in {time.time()-t:.2f} s ({err[:60]!r})"
for c in idle: c.close()
time.sleep(1)
c = socket.create_connection((host, int(port)))
c.sendall(f"POST /users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\nContent-Length: 8388608\r\n\r\n".encode())
c.settimeout(10)
t = time.time()
try:
    got = c.recv(200); out["5b announced 8 MiB body, client waits"] = f"{got[:12]!r} after {time.time()-t:.3f} s"
except Exception as e:
    out["5b announced 8 MiB body, client waits"] = f"no answer in {time.time()-t:.1f} s"
c.close()
# 5c a connection that never sends a byte
c = socket.create_connection((host, int(port))); c.settimeout(70)
t = time.time()
try:
    c.recv(10); out["5c a silent connection is closed after"] = f"{time.time()-t:.1f} s"
except Exception as e:
    out["5c a silent connection is closed after"] = f"still open after {time.time()-t:.0f} s ({e})"
p.kill()
for k, v in out.items():
    print(f"{k}: {v}")
