// A load script written the way the MQTT.js README teaches: mqtt.connect()
// per device, client.publish() in a loop, a 'message' handler counting.
// Used by bench/run.sh as a peer; prints one JSON line with what it measured.
const mqtt = require("mqtt");
const arg = (name, def) => {
  const i = process.argv.indexOf("--" + name);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const port = arg("port"), pubs = arg("pubs", 10), subs = arg("subs", 1), count = arg("count", 1000);
const qos = arg("qos", 0), size = arg("size", 100), idle = arg("idle", 0), hold = arg("hold", 5);
const url = `mqtt://127.0.0.1:${port}`;
const connected = (c) => new Promise((ok) => c.on("connect", ok));

async function main() {
  if (idle) {
    const clients = [];
    for (let i = 0; i < idle; i++) clients.push(mqtt.connect(url, { clientId: `js-idle-${i}`, keepalive: 60, reconnectPeriod: 0 }));
    await Promise.all(clients.map(connected));
    await new Promise((r) => setTimeout(r, hold * 1000));
    clients.forEach((c) => c.end(true));
    console.log(JSON.stringify({ idle }));
    return;
  }
  const expected = pubs * count * subs;
  let received = 0;
  let done;
  const allIn = new Promise((r) => (done = r));
  const subClients = [];
  for (let i = 0; i < subs; i++) {
    const c = mqtt.connect(url, { clientId: `js-sub-${i}`, reconnectPeriod: 0 });
    await connected(c);
    await c.subscribeAsync("bench/#", { qos });
    c.on("message", () => { if (++received >= expected) done(); });
    subClients.push(c);
  }
  const payload = Buffer.alloc(size, "x");
  const start = Date.now();
  await Promise.all([...Array(pubs).keys()].map(async (i) => {
    const c = mqtt.connect(url, { clientId: `js-pub-${i}`, reconnectPeriod: 0 });
    await connected(c);
    for (let n = 0; n < count; n++) await c.publishAsync(`bench/${i}`, payload, { qos });
    await c.endAsync();
  }));
  await Promise.race([allIn, new Promise((r) => setTimeout(r, 60000))]);
  const elapsed = (Date.now() - start) / 1000;
  subClients.forEach((c) => c.end(true));
  console.log(JSON.stringify({ delivered: received, expected, elapsed_s: elapsed }));
}
main().then(() => process.exit(0));
