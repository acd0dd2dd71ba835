// Kubernetes' `$(VAR)` expansion (k8s.io/kubernetes third_party/forked/golang/expansion): `$(VAR)`
// becomes VAR's value when VAR is defined and stays as written when it is not; `$$` is an escaped
// `$` (so `$$(VAR)` yields the literal `$(VAR)`); any other `$` is kept; an unclosed `$(` is kept.

/** Expands `$(VAR)` references in `input` from `lookup`; never fails. */
export function expandVars(input: string, lookup: (name: string) => string | undefined): string {
  let out = '';
  let checkpoint = 0;
  for (let cursor = 0; cursor < input.length; cursor++) {
    if (input[cursor] !== '$' || cursor + 1 >= input.length) continue;
    out += input.slice(checkpoint, cursor);
    const next = input[cursor + 1];
    let advance = 1;
    if (next === '$') {
      out += '$';
    } else if (next === '(') {
      const close = input.indexOf(')', cursor + 2);
      if (close < 0) {
        out += '$(';
      } else {
        const name = input.slice(cursor + 2, close);
        out += lookup(name) ?? `$(${name})`;
        advance = close - cursor;
      }
    } else {
      out += `$${next}`;
    }
    cursor += advance;
    checkpoint = cursor + 1;
  }
  return out + input.slice(checkpoint);
}

/**
 * Builds a container's environment as kubelet does: each value may refer to variables defined
 * before it in the list (or in `base`); later entries with the same name win.
 */
export function expandEnvList(list: readonly { name: string; value?: string | undefined }[], base: Readonly<Record<string, string>> = {}): Record<string, string> {
  const env: Record<string, string> = { ...base };
  for (const { name, value } of list) {
    env[name] = expandVars(value ?? '', (n) => (Object.hasOwn(env, n) ? env[n] : undefined));
  }
  return env;
}
