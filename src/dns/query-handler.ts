// One DNS message in, one out: decodes the query, checks it as miekg/dns's default MsgAcceptFunc
// does (CoreDNS's server), asks the pure planner, forwards or chases upstream when told to, and
// encodes the reply within the client's size (UDP: 512 bytes, or the EDNS0 size up to 4096;
// TCP: 65535), truncating with TC set as CoreDNS does. Never throws: anything unexpected is
// SERVFAIL, an undecodable query FORMERR, and a message that is not a query is dropped.
import dnsPacket, { type Answer, type DecodedPacket, type Packet } from 'dns-packet';
import type { ClusterView } from './cluster-view.ts';
import { ForwarderBusyError, type Transport } from './forwarder.ts';
import { planAnswer, type Plan, type Rcode, type RecordOptions, type ReplyPlan } from './records.ts';

const RCODES: Record<Rcode, number> = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 };
const QR = 0x8000;
const BADVERS = 16;
const OPCODE_MASK = 0x7800;
/** What this server advertises and accepts at most over UDP (EDNS0). */
const MAX_UDP = 4096;
const OUR_UDP_SIZE = 1232;

export interface QueryHandlerOptions {
  readonly records: RecordOptions;
  /** The current cluster view; undefined until the caches have synced. */
  readonly view: () => ClusterView | undefined;
  readonly forwarder: { exchange(query: Buffer, transport: Transport): Promise<Buffer | undefined> };
  /**
   * Random numbers in [0, 1) for CoreDNS's `loadbalance` (address records in random order).
   * Default Math.random; null keeps the planner's (sorted) order.
   */
  readonly random?: (() => number) | null;
  readonly log?: (m: string) => void;
}

/** Answers one DNS message; undefined when nothing should be sent back (not a query, or too short). */
export async function handleQuery(msg: Buffer, transport: Transport, o: QueryHandlerOptions): Promise<Buffer | undefined> {
  if (msg.length < 12) return undefined;
  const flags = msg.readUInt16BE(2);
  // A response (or garbage with QR set) is never answered: no reflection loops between servers.
  if (flags & QR) return undefined;
  const id = msg.readUInt16BE(0);
  const opcodeBits = flags & OPCODE_MASK;
  const rd = flags & dnsPacket.RECURSION_DESIRED;
  let query: DecodedPacket;
  try {
    query = dnsPacket.decode(msg);
  } catch {
    return header(id, opcodeBits | rd | RCODES.FORMERR);
  }
  if (opcodeBits !== 0) return header(id, opcodeBits | rd | RCODES.NOTIMP);
  const questions = query.questions ?? [];
  const q = questions[0];
  if (questions.length !== 1 || !q || (query.answers?.length ?? 0) > 0 || (query.authorities?.length ?? 0) > 0) {
    return header(id, rd | RCODES.FORMERR);
  }
  const opt = query.additionals?.find((a) => a.type === 'OPT');
  // RFC 6891 6.1.3: only EDNS version 0 exists; a higher one gets BADVERS (16: 0 in the header,
  // 1 in the OPT's extended RCODE) with our version, as CoreDNS's server (plugin/pkg/edns Version).
  if (opt && 'ednsVersion' in opt && opt.ednsVersion !== 0) {
    return dnsPacket.encode({ id, type: 'response', flags: rd, questions: [q],
      additionals: [{ type: 'OPT', name: '.', udpPayloadSize: OUR_UDP_SIZE, extendedRcode: BADVERS >> 4, ednsVersion: 0, flags: 0, flag_do: false, options: [] }] });
  }
  const udpSize = opt && 'udpPayloadSize' in opt ? Math.min(Math.max(opt.udpPayloadSize, 512), MAX_UDP) : 512;
  const limit = transport === 'udp' ? udpSize : 65535;
  try {
    const plan = planAnswer(o.view(), { name: q.name, type: q.type, class: q.class ?? 'IN' }, o.records);
    const reply = await resolvePlan(plan, msg, transport, o);
    if (Buffer.isBuffer(reply)) return reply;
    return encodeReply(query, rd, reply, opt !== undefined, limit, o.random === undefined ? Math.random : o.random);
  } catch (err) {
    o.log?.(`dns: ${q.type} ${q.name}: ${(err as Error).message}`);
    try {
      return encodeReply(query, rd, { kind: 'reply', rcode: 'SERVFAIL', authoritative: false, answers: [], authorities: [], additionals: [] }, opt !== undefined, limit, null);
    } catch {
      return header(id, rd | RCODES.SERVFAIL);
    }
  }
}

const SERVFAIL: ReplyPlan = { kind: 'reply', rcode: 'SERVFAIL', authoritative: false, answers: [], authorities: [], additionals: [] };
const REFUSED: ReplyPlan = { kind: 'reply', rcode: 'REFUSED', authoritative: false, answers: [], authorities: [], additionals: [] };

/** Forwarded answers are passed on byte for byte; chases become a reply plan. */
async function resolvePlan(plan: Plan, msg: Buffer, transport: Transport, o: QueryHandlerOptions): Promise<ReplyPlan | Buffer> {
  if (plan.kind === 'reply') return plan;
  try {
    if (plan.kind === 'forward') return (await o.forwarder.exchange(msg, transport)) ?? SERVFAIL;
    // An ExternalName pointing outside the cluster: CoreDNS looks the target up through its own
    // chain (`forward`) and answers the CNAME with whatever answer section comes back, even an
    // empty one (NOERROR/NODATA or NXDOMAIN upstream); only a lookup that fails drops the CNAME
    // (plugin/backend_lookup.go A/AAAA: `if e1 != nil || m1 == nil { continue }`). Here failing is
    // no answer at all (upstreams silent or none) or one that does not decode.
    const answers = await lookupUpstream(o, plan.target, plan.type);
    return answers ? { kind: 'reply', rcode: 'NOERROR', authoritative: true, answers: [...plan.chain, ...answers], authorities: [], additionals: [] } : plan.empty;
  } catch (err) {
    if (err instanceof ForwarderBusyError) return REFUSED;
    throw err;
  }
}

/** The answer section of an upstream lookup (empty for NODATA or NXDOMAIN); undefined when none came back or it did not decode. */
async function lookupUpstream(o: QueryHandlerOptions, name: string, type: 'A' | 'AAAA'): Promise<Answer[] | undefined> {
  const q = dnsPacket.encode({ id: 0, type: 'query', flags: dnsPacket.RECURSION_DESIRED, questions: [{ name, type, class: 'IN' }] });
  let raw = await o.forwarder.exchange(q, 'udp');
  if (raw && raw.length >= 12 && raw.readUInt16BE(2) & dnsPacket.TRUNCATED_RESPONSE) raw = await o.forwarder.exchange(q, 'tcp');
  if (!raw) return undefined;
  try {
    return dnsPacket.decode(raw).answers ?? [];
  } catch {
    return undefined;
  }
}

function header(id: number, flags: number): Buffer {
  return dnsPacket.encode({ id, type: 'response', flags, questions: [] });
}

/** The reply's bytes: within `limit`, dropping extra records, then answers, with TC set (miekg's Msg.Truncate). */
function encodeReply(query: DecodedPacket, rd: number, plan: ReplyPlan, edns: boolean, limit: number, random: (() => number) | null): Buffer {
  const answers = loadBalance(plan.answers, random);
  const opt: Answer[] = edns ? [{ type: 'OPT', name: '.', udpPayloadSize: OUR_UDP_SIZE, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] }] : [];
  const flags = rd | (plan.authoritative ? dnsPacket.AUTHORITATIVE_ANSWER : 0) | RCODES[plan.rcode];
  const packet = (a: readonly Answer[], auth: readonly Answer[], extra: readonly Answer[], tc: boolean): Packet => ({
    id: query.id ?? 0, type: 'response', flags: flags | (tc ? dnsPacket.TRUNCATED_RESPONSE : 0),
    questions: query.questions ?? [], answers: [...a], authorities: [...auth], additionals: [...extra, ...opt],
  });
  const full = dnsPacket.encode(packet(answers, plan.authorities, plan.additionals, false));
  if (full.length <= limit) return full;
  // Extra records go first (they are optional), then as many answers as fit.
  const noExtra = dnsPacket.encode(packet(answers, plan.authorities, [], false));
  if (noExtra.length <= limit) return noExtra;
  let lo = 0;
  let hi = answers.length;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (dnsPacket.encodingLength(packet(answers.slice(0, mid), [], [], true)) <= limit) lo = mid;
    else hi = mid - 1;
  }
  return dnsPacket.encode(packet(answers.slice(0, lo), [], [], true));
}

/** CoreDNS's `loadbalance` (kubeadm's Corefile): address records in random order, CNAMEs first. */
function loadBalance(answers: readonly Answer[], random: (() => number) | null): Answer[] {
  const isAddress = (a: Answer) => a.type === 'A' || a.type === 'AAAA';
  const addresses = answers.filter(isAddress);
  if (addresses.length < 2 || random === null) return [...answers];
  for (let i = addresses.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [addresses[i], addresses[j]] = [addresses[j]!, addresses[i]!];
  }
  return [...answers.filter((a) => !isAddress(a)), ...addresses];
}
