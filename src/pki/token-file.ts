// kube-apiserver's static token file (--token-auth-file): CSV rows `token,user,uid,"group1,group2"`,
// read as k8s.io/apiserver/pkg/authentication/token/tokenfile does: at least 3 columns, an empty
// token is skipped, a later duplicate token wins, the optional 4th column is split on ','.

export interface TokenEntry {
  readonly token: string;
  readonly user: string;
  readonly uid: string;
  readonly groups: readonly string[];
}

/** Parses a static token file. Throws on a row with fewer than 3 columns or an unterminated quote. */
export function parseTokenFile(text: string): TokenEntry[] {
  const byToken = new Map<string, TokenEntry>();
  for (const [i, record] of parseCsv(text).entries()) {
    if (record.length < 3) {
      throw new Error(`token file must have at least 3 columns (token, user name, user uid), found ${record.length} on record ${i + 1}`);
    }
    const [token = '', user = '', uid = '', groups] = record;
    if (token === '') continue;
    byToken.set(token, { token, user, uid, groups: groups === undefined ? [] : groups.split(',') });
  }
  return [...byToken.values()];
}

/** Renders one row, quoting fields the way encoding/csv needs them. */
export function formatTokenLine(entry: TokenEntry): string {
  const fields = [entry.token, entry.user, entry.uid].map(quoteCsvField);
  // The groups column is always quoted, as in the Kubernetes docs' example row.
  if (entry.groups.length > 0) fields.push(`"${entry.groups.join(',').replaceAll('"', '""')}"`);
  return fields.join(',') + '\n';
}

function quoteCsvField(field: string): string {
  return /[",\r\n]/.test(field) || field.startsWith(' ') ? `"${field.replaceAll('"', '""')}"` : field;
}

/**
 * RFC 4180 records as Go's encoding/csv reads them with TrimLeadingSpace off: quoted fields may
 * hold commas, newlines and doubled quotes; blank lines are skipped; CRLF ends a record too.
 */
function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let record: string[] = [];
  let fieldText = '';
  let i = 0;
  let atFieldStart = true;
  const endRecord = (): void => {
    record.push(fieldText);
    if (!(record.length === 1 && record[0] === '')) records.push(record);
    record = [];
    fieldText = '';
    atFieldStart = true;
  };
  while (i < text.length) {
    const ch = text[i];
    if (atFieldStart && ch === '"') {
      const start = i;
      i++;
      for (;;) {
        if (i >= text.length) throw new Error(`token file: unterminated quoted field at offset ${start}`);
        if (text[i] === '"') {
          if (text[i + 1] === '"') {
            fieldText += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        fieldText += text[i];
        i++;
      }
      atFieldStart = false;
      continue;
    }
    if (ch === ',') {
      record.push(fieldText);
      fieldText = '';
      atFieldStart = true;
    } else if (ch === '\n') {
      endRecord();
    } else if (ch === '\r' && text[i + 1] === '\n') {
      // handled by the '\n' on the next step
    } else {
      fieldText += ch;
      atFieldStart = false;
    }
    i++;
  }
  if (fieldText !== '' || record.length > 0) endRecord();
  return records;
}
