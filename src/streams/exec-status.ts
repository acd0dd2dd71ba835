/** What a command run returns: its exit code, or why it could not be run. */
export type RemoteCommandResult = { exitCode: number } | { error: string; during?: 'exec' | 'attach' };

/**
 * The metav1.Status the kubelet writes on the error stream when a command ends
 * (pkg/kubelet/cri/streaming/remotecommand/exec.go ServeExec). Field order follows Go's JSON
 * encoding of metav1.Status, so the bytes match. client-go's v4 decoder turns NonZeroExitCode
 * into "command terminated with exit code N" and kubectl exits with N; any other failure is
 * printed as its message.
 */
export function execStatus(result: RemoteCommandResult, command: readonly string[] = []): object {
  if ('error' in result) {
    // ServeExec's and ServeAttach's wrapping of the runtime's error.
    const cause = result.during === 'attach' ? `error attaching to container: ${result.error}` : `error executing command in container: ${result.error}`;
    return {
      metadata: {}, status: 'Failure', message: `Internal error occurred: ${cause}`, reason: 'InternalError',
      details: { causes: [{ message: cause }] }, code: 500,
    };
  }
  if (result.exitCode === 0) return { metadata: {}, status: 'Success' };
  // The CRI runtime's ExitError text (containerd internal/cri/server/streaming.go), wrapped by the kubelet.
  return {
    metadata: {}, status: 'Failure',
    message: `command terminated with non-zero exit code: error executing command [${command.join(' ')}], exit code ${result.exitCode}`,
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: String(result.exitCode) }] },
  };
}

/**
 * The error-stream bytes for a protocol version: v4 and v5 carry the Status JSON; the older
 * channel protocols carry only the message of a failure and nothing on success (kubelet
 * remotecommand httpstream.go v1WriteStatusFunc / v4WriteStatusFunc).
 */
export function encodeExecStatus(result: RemoteCommandResult, command: readonly string[], jsonStatus: boolean): Buffer {
  const status = execStatus(result, command) as { status: string; message?: string };
  if (jsonStatus) return Buffer.from(JSON.stringify(status));
  return Buffer.from(status.status === 'Success' ? '' : status.message ?? '');
}
