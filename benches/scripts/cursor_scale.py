# Cursor and startIndex paging at scale: python3 benches/scripts/cursor_scale.py BIN USERS
# (release build; loads USERS users by SCIM Bulk into a temp store on loopback).
import json, os, subprocess, sys, tempfile, threading, time, urllib.request, urllib.error
BIN = sys.argv[1]; N = int(sys.argv[2])
d = tempfile.mkdtemp()
p = subprocess.Popen([BIN, "serve", "--listen", "127.0.0.1:0", "--data-dir", d, "--rate-limit", "0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=dict(os.environ, WHOOT_LOG="error"), text=True)
for line in p.stdout:
    if line.startswith("listening on http://"): addr = line.strip().split("http://")[1]; break
threading.Thread(target=lambda: [None for _ in p.stdout], daemon=True).start()
key = open(os.path.join(d, "initial-api-key")).read().strip()
subprocess.run([BIN, "tenant", "set-seats", "default", str(N * 2), "--data-dir", d], capture_output=True)
def req(method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    r = urllib.request.Request(f"http://{addr}{path}", data=data, method=method)
    r.add_header("Authorization", f"Bearer {key}")
    if data: r.add_header("Content-Type", "application/json")
    t = time.perf_counter()
    with urllib.request.urlopen(r, timeout=300) as resp:
        out = json.loads(resp.read())
    return out, (time.perf_counter() - t) * 1000
t0 = time.time()
for b in range(N // 1000):
    ops = [{"method": "POST", "path": "/Users", "bulkId": f"u{b}-{i}", "data": {"userName": f"u{b}-{i}@example.com"}} for i in range(1000)]
    req("POST", "/scim/v2/Bulk", {"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": ops})
print(f"loaded {N} users in {time.time()-t0:.1f} s")
times = []
page, ms = req("GET", "/scim/v2/Users?count=100&cursor=")
times.append(ms); n = len(page["Resources"])
while "nextCursor" in page:
    page, ms = req("GET", f"/scim/v2/Users?count=100&cursor={page['nextCursor']}")
    times.append(ms); n += len(page["Resources"])
print(f"cursor walk: {len(times)} pages of 100, {n} users; first 5 pages median {sorted(times[:5])[2]:.2f} ms, last 5 pages median {sorted(times[-5:])[2]:.2f} ms, all pages p50 {sorted(times)[len(times)//2]:.2f} ms")
for si in [1, N - 1000]:
    ms = sorted(req("GET", f"/scim/v2/Users?count=100&startIndex={si}")[1] for _ in range(5))[2]
    print(f"startIndex={si}, count=100: median of 5 {ms:.2f} ms")
p.kill()
