// Lines of long-running commands (`--watch`): each one stamped with the time it happened.

/** The time now, to the second, in UTC: `2026-11-27T04:40:00Z`. */
export function timestamp(date = new Date()): string {
  return `${date.toISOString().slice(0, 19)}Z`
}
