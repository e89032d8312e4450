// One /ws/notifications connection for the whole console, resuming after a reconnect:
// it remembers the last seq it saw and subscribes again with since=last, so no event is
// lost while the socket was down (the node's replay buffer), and says so (notes).
import { openSocket } from "./api.js";

const HISTORY = 50;  // events replayed on the first connect, so the Live view is not empty

export class EventHub {
  constructor() {
    this.last = null;
    this.listeners = new Set();  // fn(kind, msg): kind "event" | "note" | "gap" | "state"
    this.state = "connecting";
    this.ws = null;
    this.held = false;  // drop(): stay disconnected until reconnect()
    this.retry = 0;
    this.connects = 0;
  }
  on(fn) { this.listeners.add(fn); return () => this.listeners.delete(fn); }
  emit(kind, msg) { for (const fn of [...this.listeners]) { try { fn(kind, msg); } catch (e) { console.error(e); } } }
  setState(s) { this.state = s; this.emit("state", s); }

  start() {
    // one socket at a time: a retry timer that fires after reconnect() already opened one does nothing
    if (this.held || this.ws) return;
    const ws = (this.ws = openSocket("/ws/notifications"));
    this.setState("connecting");
    // a replaced socket's late messages are not ours any more (we would answer on the new, unopened one)
    ws.onmessage = (ev) => { if (this.ws === ws) this.onMessage(JSON.parse(ev.data)); };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.setState("disconnected");
      this.emit("note", { text: `connection lost (code ${ev.code}); ${this.held ? "paused" : "reconnecting"}` });
      if (!this.held) {
        const delay = Math.min(10000, 500 * 2 ** this.retry++) * (0.75 + Math.random() * 0.5);
        setTimeout(() => this.start(), delay);
      }
    };
  }

  onMessage(msg) {
    if (msg.type === "welcome") {
      this.retry = 0;
      this.connects += 1;
      let since;
      if (this.last === null) since = Math.max(0, msg.last_seq - HISTORY);
      else if (msg.last_seq < this.last) { since = 0; this.emit("gap", { text: `the node's history was reset (its last seq ${msg.last_seq} < ${this.last})` }); }
      else since = this.last;
      this.resumedFrom = this.last;
      this.ws.send(JSON.stringify({ action: "subscribe", notification_types: "all", since }));
    } else if (msg.type === "subscription_confirmed") {
      this.setState("connected");
      if (this.resumedFrom !== null && this.resumedFrom !== undefined) {
        const missed = Math.max(0, msg.last_seq - this.resumedFrom);
        this.emit("note", { text: `reconnected: resumed after seq ${this.resumedFrom} (${missed} event${missed === 1 ? "" : "s"} to replay)`, resumed: this.resumedFrom });
      }
      if (this.last === null) this.last = msg.since ?? 0;
    } else if (msg.type === "resume_gap") {
      this.emit("gap", { text: `events ${msg.missed_from_seq}..${msg.missed_to_seq} are no longer on the node (older than its replay buffer)` });
    } else if (msg.type === "lagged") {
      this.ws.send(JSON.stringify({ action: "subscribe", notification_types: "all", since: this.last }));
    } else if (typeof msg.seq === "number") {
      if (this.last !== null && msg.seq <= this.last) return;  // replayed twice: once only
      this.last = msg.seq;
      this.emit("event", msg);
    }
  }

  /** Close the socket and stay closed (tests and the Live view's "disconnect" button). */
  drop() { this.held = true; if (this.ws) this.ws.close(); }
  reconnect() { this.held = false; if (!this.ws) this.start(); }
}

export const hub = new EventHub();
