// Where a command's words go: the oclif command itself (`this`), or the direct runner of the read
// commands (src/direct.ts), which prints them the same way. Both stay silent under --json, where
// the returned data is the output.
export interface Output {
  log(line: string): void
  logToStderr(line: string): void
}
