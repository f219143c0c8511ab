"""A load script written the way the paho-mqtt tutorials teach: one Client
per simulated device, loop_start() (a network thread each), publish() in a
loop, on_message counting. Used by bench/run.sh as the peer midge is
compared with. Prints one JSON line with what it measured."""
import argparse, json, threading, time
import paho.mqtt.client as mqtt

def new_client(cid):
    try:
        return mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=cid)
    except AttributeError:  # paho-mqtt 1.x
        return mqtt.Client(client_id=cid)

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--pubs", type=int, default=10)
    ap.add_argument("--subs", type=int, default=1)
    ap.add_argument("--count", type=int, default=1000, help="messages per publisher")
    ap.add_argument("--qos", type=int, default=0)
    ap.add_argument("--size", type=int, default=100)
    ap.add_argument("--idle", type=int, default=0, help="only connect this many clients and sit")
    ap.add_argument("--hold", type=float, default=5.0)
    a = ap.parse_args()
    host = "127.0.0.1"

    if a.idle:
        clients = []
        for i in range(a.idle):
            c = new_client(f"paho-idle-{i}")
            c.connect(host, a.port, keepalive=60)
            c.loop_start()
            clients.append(c)
        time.sleep(a.hold)
        for c in clients:
            c.disconnect(); c.loop_stop()
        print(json.dumps({"idle": a.idle}))
        return

    received = [0]
    lock = threading.Lock()
    expected = a.pubs * a.count * a.subs
    done = threading.Event()

    def on_message(client, userdata, msg):
        with lock:
            received[0] += 1
            if received[0] >= expected:
                done.set()

    subs = []
    for i in range(a.subs):
        c = new_client(f"paho-sub-{i}")
        c.on_message = on_message
        c.connect(host, a.port, keepalive=60)
        c.subscribe("bench/#", qos=a.qos)
        c.loop_start()
        subs.append(c)
    time.sleep(1.0)  # let the subscriptions settle, as tutorials do

    payload = b"x" * a.size
    start = time.time()

    def publisher(i):
        c = new_client(f"paho-pub-{i}")
        c.connect(host, a.port, keepalive=60)
        c.loop_start()
        for n in range(a.count):
            info = c.publish(f"bench/{i}", payload, qos=a.qos)
            if a.qos > 0:
                info.wait_for_publish()
        c.disconnect(); c.loop_stop()

    threads = [threading.Thread(target=publisher, args=(i,)) for i in range(a.pubs)]
    for t in threads: t.start()
    for t in threads: t.join()
    done.wait(timeout=60)
    elapsed = time.time() - start
    for c in subs:
        c.disconnect(); c.loop_stop()
    print(json.dumps({"delivered": received[0], "expected": expected, "elapsed_s": elapsed}))

main()
