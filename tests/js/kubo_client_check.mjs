// Acceptance check: the unchanged npm kubo-rpc-client against an ipfs_kit_py server.
// Usage: node kubo_client_check.mjs http://127.0.0.1:PORT
// Exits non-zero on the first failed assertion (and prints which one).
import { createHash } from 'node:crypto'
import assert from 'node:assert/strict'
import { create } from 'kubo-rpc-client'
import { CID } from 'multiformats/cid'
import { multiaddr } from '@multiformats/multiaddr'
import { peerIdFromString } from '@libp2p/peer-id'

const url = process.argv[2]
const peerAddr = process.argv[3] // another node's <multiaddr>/p2p/<id>, for the swarm checks
if (!url || !peerAddr) {
  console.error('usage: node kubo_client_check.mjs SERVER_URL PEER_MULTIADDR')
  process.exit(2)
}
const ipfs = create({ url, timeout: 30000 })

// the vectors' generator: SHA-256 counter mode over SEED, first n bytes
function streamBytes (n) {
  const seed = Buffer.from('ipfs-cid-oracle-v1')
  const out = Buffer.alloc(Math.ceil(n / 32) * 32)
  for (let i = 0; i * 32 < n; i++) {
    const ctr = Buffer.alloc(8)
    ctr.writeBigUInt64BE(BigInt(i))
    createHash('sha256').update(seed).update(ctr).digest().copy(out, i * 32)
  }
  return out.subarray(0, n)
}

async function collect (it) {
  const chunks = []
  for await (const c of it) chunks.push(c)
  return Buffer.concat(chunks.map((c) => Buffer.from(c)))
}

async function all (it) {
  const out = []
  for await (const x of it) out.push(x)
  return out
}

const checks = []
function check (name, fn) { checks.push([name, fn]) }

const HELLO = 'QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o' // "hello world\n", Kubo default
const TESTDIR = {
  v0: 'QmanwfLab4Xkvps4uhqm5XkYTFrdbT3VxNCobEPswxg8cj',
  v1raw: 'bafybeidwkavlxteoibeemyhaitsvpkhi3ibj5vw4pismhj4x6dg4sn7vy4'
}
const testdir = () => [
  { path: 'testdir/a.txt', content: new TextEncoder().encode('hello world\n') },
  { path: 'testdir/b.bin', content: streamBytes(300000) },
  { path: 'testdir/sub/c.txt', content: new TextEncoder().encode('nested file\n') }
]

check('version', async () => {
  const v = await ipfs.version()
  assert.equal(typeof v.version, 'string')
  assert.ok(v.version.length > 0)
})

check('id', async () => {
  const id = await ipfs.id()
  assert.ok(id.id.toString().length > 10, 'peer id parsed')
  assert.ok(Array.isArray(id.addresses))
  assert.equal(typeof id.agentVersion, 'string')
})

check('add bytes (v0) and cat', async () => {
  const r = await ipfs.add('hello world\n')
  assert.equal(r.cid.toString(), HELLO)
  assert.equal(r.path, HELLO)
  assert.equal(r.size, 20)
  assert.equal((await collect(ipfs.cat(r.cid))).toString(), 'hello world\n')
  assert.equal((await collect(ipfs.cat(r.cid, { offset: 6, length: 5 }))).toString(), 'world')
})

check('add with cidVersion 1 gives a raw leaf', async () => {
  const r = await ipfs.add(streamBytes(1000), { cidVersion: 1 })
  assert.equal(r.cid.version, 1)
  assert.equal(r.cid.code, 0x55)
})

check('add with progress reports bytes', async () => {
  const seen = []
  const data = streamBytes(1 << 20)
  const r = await ipfs.add(data, { progress: (bytes) => seen.push(bytes) })
  assert.ok(seen.length > 0, 'progress callback was called')
  assert.equal(seen[seen.length - 1], data.length)
  assert.ok((await collect(ipfs.cat(r.cid))).equals(data))
})

check('addAll directory = Kubo vector (v0 and v1raw)', async () => {
  const res = await all(ipfs.addAll(testdir()))
  const root = res.find((e) => e.path === 'testdir')
  assert.ok(root, 'root entry present: ' + JSON.stringify(res.map((e) => e.path)))
  assert.equal(root.cid.toString(), TESTDIR.v0)
  assert.deepEqual(res.map((e) => e.path).sort(), ['testdir', 'testdir/a.txt', 'testdir/b.bin', 'testdir/sub', 'testdir/sub/c.txt'])
  const v1 = await all(ipfs.addAll(testdir(), { cidVersion: 1 }))
  assert.equal(v1.find((e) => e.path === 'testdir').cid.toString(), TESTDIR.v1raw)
})

check('ls directory', async () => {
  const entries = await all(ipfs.ls(TESTDIR.v0))
  assert.deepEqual(entries.map((e) => e.name), ['a.txt', 'b.bin', 'sub'])
  assert.equal(entries.find((e) => e.name === 'sub').type, 'dir')
  assert.equal(entries.find((e) => e.name === 'b.bin').type, 'file')
  assert.equal(entries.find((e) => e.name === 'b.bin').size, 300000)
  const nested = await collect(ipfs.cat(`/ipfs/${TESTDIR.v0}/sub/c.txt`))
  assert.equal(nested.toString(), 'nested file\n')
})

check('get returns a TAR of the directory', async () => {
  const tar = await collect(ipfs.get(TESTDIR.v0))
  assert.equal(tar.length % 512, 0)
  assert.equal(tar.subarray(257, 262).toString(), 'ustar')
  assert.ok(tar.includes(Buffer.from('nested file\n')))
  assert.ok(tar.includes(Buffer.from(`${TESTDIR.v0}/sub/c.txt`)))
})

check('pin add / ls / rm', async () => {
  const { cid } = await ipfs.add('pin me\n', { pin: false })
  let pins = await all(ipfs.pin.ls({ type: 'recursive' }))
  assert.ok(!pins.some((p) => p.cid.equals(cid)), 'not pinned before pin.add')
  assert.equal((await ipfs.pin.add(cid)).toString(), cid.toString())
  pins = await all(ipfs.pin.ls({ paths: [cid] }))
  assert.equal(pins.length, 1)
  assert.equal(pins[0].type, 'recursive')
  pins = await all(ipfs.pin.ls())
  assert.ok(pins.some((p) => p.cid.equals(cid)))
  assert.equal((await ipfs.pin.rm(cid)).toString(), cid.toString())
  pins = await all(ipfs.pin.ls({ type: 'recursive' }))
  assert.ok(!pins.some((p) => p.cid.equals(cid)), 'unpinned')
  await assert.rejects(ipfs.pin.rm(cid), 'second pin.rm fails')
})

check('block put / get / stat', async () => {
  const data = new TextEncoder().encode('a raw block')
  const cid = await ipfs.block.put(data)
  assert.equal(cid.version, 1)
  assert.equal(cid.code, 0x55)
  assert.deepEqual(Buffer.from(await ipfs.block.get(cid)), Buffer.from(data))
  const st = await ipfs.block.stat(cid)
  assert.equal(st.cid.toString(), cid.toString())
  assert.equal(st.size, data.length)
})

check('dag export / import', async () => {
  const car = await collect(ipfs.dag.export(TESTDIR.v0))
  assert.ok(car.length > 300000)
  const res = await all(ipfs.dag.import([car]))
  assert.equal(res.length, 1)
  assert.equal(res[0].root.cid.toString(), TESTDIR.v0)
  assert.equal(res[0].root.pinErrorMsg, '')
})

check('errors are reported', async () => {
  await assert.rejects(collect(ipfs.cat('not-a-cid')))
  await assert.rejects(collect(ipfs.cat('bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyka')))
  await assert.rejects(ipfs.block.stat('bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyka'))
})

// -- issue 14: MFS, config, pins, resolve, refs, dag, cid, bootstrap ----------------------------
check('files: mkdir, write, read, ls, stat, cp, mv, rm, flush (Kubo CIDs)', async () => {
  await ipfs.files.mkdir('/js/sub', { parents: true })
  await ipfs.files.write('/js/hello', new TextEncoder().encode('hello world\n'), { create: true })
  // Kubo's MFS writes the trickle layout: not `ipfs add`'s CID
  assert.equal((await ipfs.files.stat('/js/hello')).cid.toString(), 'QmVib14uvPnCP73XaCDpwugRuwfTsVbGyWbatHAmLSdZUS')
  assert.equal((await collect(ipfs.files.read('/js/hello'))).toString(), 'hello world\n')
  assert.equal((await collect(ipfs.files.read('/js/hello', { offset: 6, length: 5 }))).toString(), 'world')
  await ipfs.files.write('/js/hello', new TextEncoder().encode('HELLO'), { offset: 0 })
  assert.equal((await collect(ipfs.files.read('/js/hello'))).toString(), 'HELLO world\n')
  const entries = await all(ipfs.files.ls('/js'))
  assert.deepEqual(entries.map((e) => [e.name, e.type]), [['hello', 'file'], ['sub', 'directory']])
  assert.equal(entries[0].size, 12)
  await ipfs.files.cp(`/ipfs/${HELLO}`, '/js/sub/copied')
  assert.equal((await ipfs.files.stat('/js/sub/copied')).cid.toString(), HELLO)
  await ipfs.files.mv('/js/sub/copied', '/js/moved')
  await assert.rejects(ipfs.files.stat('/js/sub/copied'))
  const st = await ipfs.files.stat('/js')
  assert.equal(st.type, 'directory')
  assert.equal((await ipfs.files.flush('/js')).toString(), st.cid.toString())
  await assert.rejects(ipfs.files.rm('/js'), 'a directory needs recursive')
  await ipfs.files.rm('/js', { recursive: true })
  await assert.rejects(ipfs.files.stat('/js'))
  assert.equal((await ipfs.files.stat('/')).cid.toString(), 'QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn')
})

check('config: getAll, get, set', async () => {
  const cfg = await ipfs.config.getAll()
  assert.ok(Array.isArray(cfg.Addresses.Swarm))
  assert.ok(Array.isArray(cfg.Bootstrap))
  assert.equal(typeof cfg.Datastore.StorageMax, 'string')
  await ipfs.config.set('Discovery.MDNS.Enabled', false)
  assert.equal(await ipfs.config.get('Discovery.MDNS.Enabled'), false)
  await assert.rejects(ipfs.config.get('No.Such.Key'))
})

check('pin update / verify, resolve, refs, dag get, cid base32, bootstrap', async () => {
  const a = (await ipfs.add('update from\n')).cid
  const b = (await ipfs.add('update to\n', { pin: false })).cid
  const pins = await ipfs.pin.update(a, b)
  assert.ok(Array.isArray(pins) || pins)
  const names = (await all(ipfs.pin.ls({ type: 'recursive' }))).map((p) => p.cid.toString())
  assert.ok(names.includes(b.toString()) && !names.includes(a.toString()))
  assert.equal(await ipfs.resolve(`/ipfs/${TESTDIR.v0}/sub`), '/ipfs/' + (await ipfs.files.stat(`/ipfs/${TESTDIR.v0}/sub`)).cid.toString())
  const refs = await all(ipfs.refs(TESTDIR.v0, { recursive: true }))
  assert.ok(refs.length >= 4 && refs.every((r) => !r.err))
  const node = await ipfs.dag.get(CID.parse(TESTDIR.v0))
  assert.equal(node.value.Links.length, 3)
  const bp = await ipfs.bootstrap.list()
  assert.ok(Array.isArray(bp.Peers))
})

check('dag put / get / resolve: dag-cbor objects with links, paths through them', async () => {
  const leaf = await ipfs.dag.put({ name: 'leaf', n: 1, bytes: new Uint8Array([1, 2, 3]) })
  assert.equal(leaf.code, 0x71)
  const root = await ipfs.dag.put({ list: ['a', leaf], file: CID.parse(HELLO) }, { pin: true })
  assert.equal((await ipfs.dag.get(root)).value.list[1].toString(), leaf.toString())
  const viaPath = await ipfs.dag.get(root, { path: 'list/1/name' })
  assert.equal(viaPath.value, 'leaf')
  const res = await ipfs.dag.resolve(`/ipfs/${root}/list/1/n`)
  assert.equal(res.cid.toString(), leaf.toString())
  assert.equal(res.remainderPath, '/n')
  // the server decodes and re-encodes: input dag-json, stored as dag-cbor (Kubo's CID for the same bytes)
  const fromJson = await ipfs.dag.put(new TextEncoder().encode('{"hello":"world"}'), { inputCodec: 'dag-json', storeCodec: 'dag-cbor' })
  assert.equal(fromJson.toString(), 'bafyreidykglsfhoixmivffc5uwhcgshx4j465xwqntbmu43nb2dzqwfvae')
  const pins = (await all(ipfs.pin.ls({ paths: [root] }))).map((p) => p.type)
  assert.deepEqual(pins, ['recursive'])
})

check('pin names: add with a name, ls with names and a name filter', async () => {
  const { cid } = await ipfs.add('a named pin from js\n', { pin: false })
  assert.equal((await ipfs.pin.add(cid, { name: 'js-named-pin' })).toString(), cid.toString())
  const byPath = await all(ipfs.pin.ls({ paths: [cid], names: true }))
  assert.deepEqual(byPath.map((p) => [p.cid.toString(), p.type, p.name]), [[cid.toString(), 'recursive', 'js-named-pin']])
  const filtered = await all(ipfs.pin.ls({ name: 'js-named' }))
  assert.deepEqual(filtered.map((p) => p.cid.toString()), [cid.toString()])
  await ipfs.pin.rm(cid)
  assert.deepEqual(await all(ipfs.pin.ls({ name: 'js-named' })), [])
})

check('swarm: connect, peers (verbose), addrs, localAddrs, ping, stats.bw, bitswap.stat, disconnect', async () => {
  const peerId = peerAddr.split('/p2p/')[1]
  await ipfs.swarm.connect(multiaddr(peerAddr))
  const pong = await all(ipfs.ping(peerIdFromString(peerId), { count: 2 }))
  assert.equal(pong[0].text, `PING ${peerId}.`)
  assert.ok(pong.slice(1, 3).every((p) => p.success && p.time > 0), JSON.stringify(pong))
  assert.match(pong[3].text, /^Average latency: [\d.]+ms$/)
  const peers = await ipfs.swarm.peers({ verbose: true })
  const p = peers.find((x) => x.peer.toString() === peerId)
  assert.ok(p, 'the connected peer is listed')
  assert.equal(p.direction, 'outbound')
  assert.match(p.latency, /^[\d.]+(ns|µs|ms|s)$/)
  assert.equal(p.identify.ID, peerId)
  const addrs = await ipfs.swarm.addrs()
  assert.ok(addrs.some((a) => a.id.toString() === peerId && a.addrs.length > 0))
  assert.ok((await ipfs.swarm.localAddrs()).length > 0)
  const bw = await all(ipfs.stats.bw())
  assert.equal(bw.length, 1)
  assert.ok(bw[0].totalOut > 0n && bw[0].totalIn > 0n && typeof bw[0].rateIn === 'number')
  const ping = await all(ipfs.stats.bw({ proto: '/ipfs/ping/1.0.0' }))
  assert.ok(ping[0].totalOut >= 64n, 'two pings of 32 bytes counted under their protocol')
  const bs = await ipfs.bitswap.stat()
  assert.equal(typeof bs.blocksReceived, 'bigint')
  const out = await ipfs.swarm.disconnect(multiaddr(peerAddr))
  assert.deepEqual(out, [`disconnect ${peerId} success`])
  assert.ok(!(await ipfs.swarm.peers()).some((x) => x.peer.toString() === peerId))
})

let failed = 0
for (const [name, fn] of checks) {
  try {
    await fn()
    console.log(`ok   ${name}`)
  } catch (err) {
    failed++
    console.log(`FAIL ${name}: ${err && err.stack ? err.stack : err}`)
  }
}
console.log(`${checks.length - failed}/${checks.length} checks passed`)
process.exit(failed ? 1 : 0)
