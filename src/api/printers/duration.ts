// Age cells, worded like k8s.io/apimachinery/pkg/util/duration.HumanDuration: "45s", "2m5s",
// "13m", "3h20m", "20h", "3d4h", "120d", "2y3d". Precision drops as the duration grows.

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const GO_ZERO_TIME = Date.parse('0001-01-01T00:00:00Z');

/** Formats a duration in milliseconds; anything more than a second in the past is "<invalid>". */
export function humanDuration(ms: number): string {
  // Go truncates toward zero; up to two seconds of clock skew still reads as "0s".
  const seconds = Math.trunc(ms / SECOND);
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.trunc(ms / MINUTE);
  if (minutes < 10) {
    const s = seconds % 60;
    return s === 0 ? `${minutes}m` : `${minutes}m${s}s`;
  }
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.trunc(ms / HOUR);
  if (hours < 8) {
    const m = minutes % 60;
    return m === 0 ? `${hours}h` : `${hours}h${m}m`;
  }
  if (hours < 48) return `${hours}h`;
  const days = Math.trunc(hours / 24);
  if (hours < 24 * 8) {
    const h = hours % 24;
    return h === 0 ? `${days}d` : `${days}d${h}h`;
  }
  if (hours < 24 * 365 * 2) return `${days}d`;
  const years = Math.trunc(days / 365);
  if (hours < 24 * 365 * 8) {
    const d = days % 365;
    return d === 0 ? `${years}y` : `${years}y${d}d`;
  }
  return `${years}y`;
}

/**
 * The time from an RFC 3339 timestamp to `now`, as printers show it (printers.go
 * translateTimestampSince); "<unknown>" when the timestamp is missing or unparsable.
 */
export function since(timestamp: string | undefined | null, now: Date): string {
  if (!timestamp) return '<unknown>';
  const t = Date.parse(timestamp);
  // Go's zero time (what a missing metav1.Time decodes to) is "unknown" too.
  if (Number.isNaN(t) || t === GO_ZERO_TIME) return '<unknown>';
  return humanDuration(now.getTime() - t);
}
