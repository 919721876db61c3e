// `tnat64 monitor`: every connect6 decision as it happens, read from the tnat64_events ring buffer.
//
// connect6 writes events only while tnat64_monitor holds a lease in the future, so with no
// monitor it pays one load and a branch. The monitor renews the lease every second and clears it
// when it stops; a monitor killed with SIGKILL cannot clear it, and the lease simply runs out
// (connect6 then clears it itself). A ring buffer has one reader (the consumer position is shared
// memory), so one monitor runs at a time: it holds an exclusive flock, which the kernel drops with
// the process however it ends.
import {
  closeSync,
  existsSync,
  constants as fs,
  ftruncateSync,
  openSync,
  readFileSync,
  statSync,
  writeSync,
} from 'node:fs'
import { join } from 'node:path'
import { formatIPv4, formatIPv6 } from '../address.js'
import { type ConnectEvent, decodeConnectEvent, MAPS } from '../bpf/layout.js'
import { type PinnedMap, RingReader } from '../bpf/libbpf.js'
import { flock } from '../bpf/native.js'
import { MONITOR_LEASE_MS, MONITOR_POLL_MS, MONITOR_RENEW_MS } from '../defaults.js'
import { RUN_DIR, runDir } from '../dirs.js'
import { CommandFailure } from '../errors.js'
import type { EventLog } from '../log.js'
import { attachedCgroupId, describeCgroup } from './attach.js'
import { indexKey, openMap, PIN_DIR, perCpuSum, requireLoaded, withLock } from './pins.js'

const MONITOR_LOCK = join(RUN_DIR, 'monitor.lock')
const LEASE_KEY = indexKey(0)

/** The lease connect6 reads: 0 for none, else CLOCK_MONOTONIC nanoseconds. */
function encodeLease(until: bigint): Buffer {
  const value = Buffer.alloc(MAPS.monitor.valueSize)
  value.writeBigUInt64LE(until)
  return value
}

export function readLease(map: PinnedMap): bigint {
  return map.lookup(LEASE_KEY)?.readBigUInt64LE(0) ?? 0n
}

/** Events dropped since the ring buffer was made (a full ring). */
const droppedEvents = (map: PinnedMap): bigint => perCpuSum(map, 0)

/** The exclusive lock of the one monitor, with its pid written in for the next one to name. */
function lockMonitor(): number {
  runDir()
  const fd = openSync(MONITOR_LOCK, fs.O_RDWR | fs.O_CREAT | fs.O_NOFOLLOW, 0o600)
  try {
    flock(fd, true, () => {
      const holder = readFileSync(MONITOR_LOCK, 'utf8').trim()
      throw new CommandFailure(
        `another tnat64 monitor is running${holder ? ` (pid ${holder})` : ''}: a ring buffer has one reader`,
      )
    })
    ftruncateSync(fd)
    writeSync(fd, `${process.pid}\n`, 0)
    return fd
  } catch (e) {
    closeSync(fd)
    throw e
  }
}

export interface MonitorSummary {
  readonly shown: number
  readonly dropped: number
}

/**
 * CLOCK_MONOTONIC as the kernel keeps it, which bpf_ktime_get_ns() reads: in a time namespace
 * (unshare --time) user space's clock is shifted by the namespace's offset, and a lease written on
 * that clock would end a day late, or before it began.
 */
function kernelClock(): () => bigint {
  let offset = 0n
  try {
    const line = /^monotonic\s+(-?\d+)\s+(\d+)$/m.exec(readFileSync('/proc/self/timens_offsets', 'utf8'))
    if (line) offset = BigInt(line[1]) * 1_000_000_000n + BigInt(line[2])
  } catch {
    // no time namespaces in this kernel: no offset
  }
  return () => process.hrtime.bigint() - offset
}

/**
 * Prints one event line per connect6 decision (of the cgroup `only`, if given) until `stopped`
 * resolves; says so when events were dropped or could not be recorded; ends with a summary line.
 */
export async function monitor(
  options: { cgroup?: string },
  log: EventLog,
  stopped: Promise<unknown>,
): Promise<MonitorSummary> {
  requireLoaded()
  const eventsPin = join(PIN_DIR, MAPS.events.name)
  if (!existsSync(eventsPin))
    throw new CommandFailure('the attached programs predate tnat64 monitor: run tnat64 upgrade')
  const only =
    options.cgroup === undefined
      ? undefined
      : withLock(false, () => attachedCgroupId(options.cgroup as string))
  const lockFd = lockMonitor()
  const maps: PinnedMap[] = []
  let reader: RingReader | undefined
  let lease: PinnedMap | undefined
  try {
    lease = openMap(MAPS.monitor)
    maps.push(lease)
    const leaseMap = lease
    const events = openMap(MAPS.events)
    maps.push(events)
    const droppedMap = openMap(MAPS.monitorDropped)
    maps.push(droppedMap)
    const pinInode = statSync(eventsPin).ino

    const nowNs = kernelClock()
    const start = nowNs()
    // Kernel times are CLOCK_MONOTONIC: this offset turns them into wall-clock dates.
    const wallOffsetNs = BigInt(Date.now()) * 1_000_000n - start
    const droppedAtStart = droppedEvents(droppedMap)
    let droppedShown = 0n
    let shown = 0
    const paths = new Map<bigint, string>()
    const pathOf = (id: bigint): string => {
      let path = paths.get(id)
      if (path === undefined) {
        path = describeCgroup(id).path ?? `cgroup ${id}`
        paths.set(id, path)
      }
      return path
    }
    const show = (event: ConnectEvent) => {
      const destination = `${formatIPv4(event.ipv4)}:${event.port}`
      const to = event.nat64 ? `[${formatIPv6(event.nat64)}]:${event.port}` : undefined
      const cgroup = pathOf(event.cgroup)
      log(
        `pid ${event.pid} ${event.command} in ${cgroup}: ${destination} ${event.outcome}${to ? ` -> ${to}` : ', unchanged'}`,
        {
          pid: event.pid,
          command: event.command,
          cgroup,
          cgroupId: event.cgroup.toString(),
          destination,
          outcome: event.outcome,
          connectedTo: to ?? `[::ffff:${formatIPv4(event.ipv4)}]:${event.port}`,
        },
        new Date(Number((event.time + wallOffsetNs) / 1_000_000n)),
      )
      shown++
    }
    reader = RingReader.open(events, (record) => {
      const event = decodeConnectEvent(record)
      if (event.time < start) return // written for a monitor before this one
      if (only !== undefined && event.cgroup !== only) return
      show(event)
    })

    let until = 0n
    const renew = () => {
      const now = nowNs()
      if (until !== 0n && now > until)
        log(
          `the lease lapsed for ${Number((now - until) / 1_000_000n)} ms: decisions in that time were not recorded`,
          { lapsedMs: Number((now - until) / 1_000_000n) },
        )
      until = now + BigInt(MONITOR_LEASE_MS) * 1_000_000n
      leaseMap.update(LEASE_KEY, encodeLease(until))
    }
    const reportDrops = () => {
      const dropped = droppedEvents(droppedMap) - droppedAtStart
      if (dropped === droppedShown) return
      log(`${dropped - droppedShown} events dropped (the ring buffer was full); ${dropped} since the start`, {
        dropped: Number(dropped),
      })
      droppedShown = dropped
    }

    renew()
    log(
      `monitoring connect6 decisions${only === undefined ? '' : ` of ${pathOf(only)}`} (one line each; stop with SIGTERM or ^C)`,
    )
    let failure: unknown
    let lastRenew = Date.now()
    let wake: () => void = () => {}
    const failed = new Promise<void>((resolve) => {
      wake = resolve
    })
    const timer = setInterval(() => {
      try {
        reader?.consume()
        if (Date.now() - lastRenew < MONITOR_RENEW_MS) return
        lastRenew = Date.now()
        if (!existsSync(eventsPin) || statSync(eventsPin).ino !== pinInode)
          throw new CommandFailure('kernel mode was detached: no more events')
        renew()
        reportDrops()
      } catch (e) {
        failure = e
        wake()
      }
    }, MONITOR_POLL_MS)
    try {
      await Promise.race([stopped, failed])
    } finally {
      clearInterval(timer)
    }
    if (failure) throw failure
    leaseMap.update(LEASE_KEY, encodeLease(0n))
    reader.consume()
    reportDrops()
    const summary = { shown, dropped: Number(droppedShown) }
    log(`stopped: ${summary.shown} decisions shown, ${summary.dropped} dropped`, summary)
    return summary
  } finally {
    // Ours to clear: no other monitor runs while we hold the lock (a no-op after a clean stop).
    try {
      lease?.update(LEASE_KEY, encodeLease(0n))
    } catch {
      // the first failure is the one to report
    }
    reader?.close()
    for (const map of maps) map.close()
    closeSync(lockFd)
  }
}
