// Browser side of tests/test_libp2p_browser.py: js-libp2p (WebSockets + Noise +
// yamux) in Chromium dials our node and fetches a file two ways. Bundled by the
// test with esbuild; everything is exposed as window.reach.
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { withBitswap } from '@helia/bitswap'
import { withLibp2pLight } from '@helia/libp2p'
import * as dagPb from '@ipld/dag-pb'
import { identify } from '@libp2p/identify'
import { webSockets } from '@libp2p/websockets'
import { multiaddr } from '@multiformats/multiaddr'
import { createHeliaLight } from 'helia'
import { CID } from 'multiformats/cid'

const hex = (b) => Array.from(new Uint8Array(b), (x) => x.toString(16).padStart(2, '0')).join('')
const sha256 = async (b) => new Uint8Array(await crypto.subtle.digest('SHA-256', b))
const concat = (parts) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let o = 0
  for (const p of parts) { out.set(p, o); o += p.length }
  return out
}

// Only the WebSocket transport, no bootstrap, no routers: the page talks to the
// one node it is told about. Browsers refuse private addresses by default; the
// test node is on 127.0.0.1, so the gater allows it.
const libp2pOptions = () => ({
  transports: [webSockets()],
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()],
  services: { identify: identify() },
  connectionGater: { denyDialMultiaddr: () => false },
})

async function readBlock (helia, cid, signal) {
  const parts = []
  for await (const chunk of helia.blockstore.get(cid, { signal })) parts.push(chunk)
  return concat(parts)
}

// The file under `cid` over bitswap: Helia verifies every block against its CID;
// dag-pb nodes are walked in link order, raw leaves concatenated.
async function fetchBitswap (addr, cid) {
  const helia = withBitswap(withLibp2pLight(createHeliaLight({ routers: [] }), libp2pOptions()))
  await helia.start()
  const t0 = performance.now()
  try {
    const conn = await helia.libp2p.dial(multiaddr(addr))
    const remote = conn.remoteAddr.toString()
    const signal = AbortSignal.timeout(30000)
    const parts = []
    let blocks = 0
    const walk = async (c) => {
      const bytes = await readBlock(helia, c, signal)
      blocks++
      if (c.code === 0x55) { parts.push(bytes); return }
      const node = dagPb.decode(bytes)
      if (node.Links.length === 0) throw new Error('expected raw leaves (cid-version=1)')
      for (const link of node.Links) await walk(link.Hash)
    }
    await walk(CID.parse(cid))
    const data = concat(parts)
    return { remote, blocks, size: data.length, sha256: hex(await sha256(data)), ms: performance.now() - t0 }
  } finally {
    await helia.stop()
  }
}

// /ipfs-kit/content/1.0.0 from docs/protocols.md alone: uvarint-framed messages,
// kind 0x00 JSON, kind 0x01 binary CID + block bytes.
const uvarint = (n) => { const out = []; while (n >= 0x80) { out.push((n & 0x7f) | 0x80); n = Math.floor(n / 128) } out.push(n); return Uint8Array.from(out) }
const jsonFrame = (obj) => { const body = new TextEncoder().encode(JSON.stringify(obj)); return concat([uvarint(body.length + 1), Uint8Array.of(0), body]) }

async function * frames (stream) {
  let buf = new Uint8Array(0)
  for await (const chunk of stream) {
    buf = concat([buf, chunk.subarray ? chunk.subarray() : chunk])
    for (;;) {
      let len = 0; let shift = 0; let i = 0
      for (; i < buf.length && i < 9; i++) { len += (buf[i] & 0x7f) * 2 ** shift; shift += 7; if (!(buf[i] & 0x80)) break }
      if (i >= buf.length || buf[i] & 0x80) break // prefix incomplete
      if (buf.length < i + 1 + len) break
      yield buf.subarray(i + 1, i + 1 + len)
      buf = buf.subarray(i + 1 + len)
    }
  }
}

async function fetchContent (addr, cid) {
  const { createLibp2p } = await import('libp2p')
  const node = await createLibp2p(libp2pOptions())
  const t0 = performance.now()
  try {
    const stream = await node.dialProtocol(multiaddr(addr), '/ipfs-kit/content/1.0.0')
    stream.send(jsonFrame({ type: 'fetch', cid, offset: null, length: null }))
    const leaves = []
    const messages = []
    let blocks = 0
    for await (const payload of frames(stream)) {
      if (payload[0] === 0) {
        const msg = JSON.parse(new TextDecoder().decode(payload.subarray(1)))
        messages.push(msg)
        if (msg.type === 'end' || msg.type === 'error') break
      } else if (payload[0] === 1) {
        const [c, bytes] = CID.decodeFirst(payload.subarray(1))
        if (c.multihash.code !== 0x12 || hex(await sha256(bytes)) !== hex(c.multihash.digest)) throw new Error(`block ${c} does not match its CID`)
        blocks++
        if (c.code === 0x55) leaves.push(bytes.slice())
      } else {
        throw new Error(`unknown frame kind ${payload[0]}`)
      }
    }
    await stream.close()
    const data = concat(leaves)
    return { messages, blocks, size: data.length, sha256: hex(await sha256(data)), ms: performance.now() - t0 }
  } finally {
    await node.stop()
  }
}

window.reach = { fetchBitswap, fetchContent }
window.reachReady = true
