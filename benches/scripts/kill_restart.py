# Restart after kill -9 with writes in the store's log: python3 benches/scripts/kill_restart.py BIN [SECONDS]
# (release build). 16 clients create users over keep-alive connections for SECONDS (default 4),
# the server is killed with SIGKILL mid-stream, restarted on the same store, and the script prints
# the commits replayed, the time to listening and the users found against those acknowledged.
import http.client, json, os, signal, subprocess, sys, tempfile, threading, time

BIN = sys.argv[1]
SECONDS = float(sys.argv[2]) if len(sys.argv) > 2 else 4.0
data = tempfile.mkdtemp()


def start(log):
    env = dict(os.environ, WHOOT_LOG="info")
    p = subprocess.Popen([BIN, "serve", "--listen", "127.0.0.1:0", "--data-dir", data, "--rate-limit", "0"],
                         stdout=subprocess.PIPE, stderr=open(log, "w"), env=env, text=True)
    began = time.time()
    for line in p.stdout:
        if line.startswith("listening on http://"):
            return p, line.strip().split("http://")[1], time.time() - began
    sys.exit("the server did not start")


p, addr, _ = start(os.path.join(data, "first.err"))
key = open(os.path.join(data, "initial-api-key")).read().strip()
subprocess.run([BIN, "--data-dir", data, "tenant", "set-seats", "default", "10000000"], capture_output=True)
host, port = addr.split(":")
acked, stop = [], threading.Event()


def client(t):
    c = http.client.HTTPConnection(host, int(port))
    i = 0
    while not stop.is_set():
        try:
            body = json.dumps({"email": f"k{t}-{i}@example.com"})
            c.request("POST", "/users", body, {"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
            r = c.getresponse()
            r.read()
        except (OSError, http.client.HTTPException):
            return
        if r.status == 201:
            acked.append(1)
        i += 1


threads = [threading.Thread(target=client, args=(t,)) for t in range(16)]
for t in threads:
    t.start()
time.sleep(SECONDS)
os.kill(p.pid, signal.SIGKILL)
stop.set()
for t in threads:
    t.join()
p.wait()
second = os.path.join(data, "second.err")
p, addr, took = start(second)
replayed = [line.strip() for line in open(second) if "replayed the store's log" in line]
c = http.client.HTTPConnection(*addr.split(":"))
c.request("GET", "/users?limit=1", headers={"Authorization": f"Bearer {key}"})
total = json.loads(c.getresponse().read())["total"]
print(f"acknowledged {len(acked)} creates; restart after kill -9 to listening: {took * 1000:.0f} ms")
print(f"log: {replayed[0] if replayed else 'nothing replayed'}")
print(f"users after the restart: {total} (the acknowledged ones, the owner and any in flight at the kill)")
p.terminate()
p.wait()
