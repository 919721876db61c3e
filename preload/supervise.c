/* The supervisor: tnat64 app for programs that never call libc's socket functions (Go's dialer,
 * static binaries, syscall(SYS_connect)). The program runs under a seccomp filter that hands its
 * AF_INET TCP and UDP socket() and its socket calls that name an address (install_filter) to this
 * process (user notification, Linux 5.9+; SECCOMP_ADDFD_FLAG_SEND 5.14+), which does what the
 * preload does, from outside: an AF_INET6 socket in place of the AF_INET one, connected or sending
 * to the NAT64 address, its names and sources given back as IPv4. Everything else is answered
 * "continue" and done by the kernel as asked.
 *
 * It can do only what the program could do with its own socket: the socket it connects or sends
 * on is the program's (a copy of the descriptor, pidfd_getfd), what it reads from the program's
 * memory is checked still to belong to a pending call (SECCOMP_IOCTL_NOTIF_ID_VALID), and a
 * program that changes that memory meanwhile changes only where its own socket goes or what it
 * sends. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "defaults.h"
#include "tnat64.h"

#if defined(__x86_64__)
#define AUDIT_ARCH_NATIVE AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define AUDIT_ARCH_NATIVE AUDIT_ARCH_AARCH64
#else
#error "the supervisor knows x86_64 and aarch64"
#endif

static int sys_seccomp(unsigned op, unsigned flags, void *args)
{
	return (int)syscall(SYS_seccomp, op, flags, args);
}

/* The calls handed over, filtered on their arguments so that the rest never leave the kernel:
 * socket() only for AF_INET TCP and UDP, sendto() and recvfrom() only with an address,
 * getsockopt() only for SO_DOMAIN. sendmsg(), recvmsg() and their mmsg forms keep their address in
 * memory the filter cannot read: all come. */
static int install_filter(void)
{
	enum { NOTIFY = 30, ALLOW = 31 }; /* the two returns, by index */
	enum { ADDRESSED = 15, SOCKET = 19, GETSOCKOPT = 25 };
	const uint32_t arg4 = offsetof(struct seccomp_data, args[4]);
#define TO(target, here) ((target) - (here) - 1)
	struct sock_filter code[] = {
		/* 0 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		/* 1 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_NATIVE, 1, 0),
		/* 2 */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		/* 3 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		/* 4 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_connect, TO(NOTIFY, 4), 0),
		/* 5 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getpeername, TO(NOTIFY, 5), 0),
		/* 6 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getsockname, TO(NOTIFY, 6), 0),
		/* 7 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_bind, TO(NOTIFY, 7), 0),
		/* 8 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_sendmsg, TO(NOTIFY, 8), 0),
		/* 9 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_recvmsg, TO(NOTIFY, 9), 0),
		/* 10 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_sendmmsg, TO(NOTIFY, 10), 0),
		/* 11 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_recvmmsg, TO(NOTIFY, 11), 0),
		/* 12 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_sendto, TO(ADDRESSED, 12), 0),
		/* 13 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_recvfrom, TO(ADDRESSED, 13), 0),
		/* 14 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_socket, TO(SOCKET, 14), TO(GETSOCKOPT, 14)),
		/* 15 ADDRESSED: the address argument, both halves */
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, arg4),
		/* 16 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, TO(NOTIFY, 16)),
		/* 17 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, arg4 + 4),
		/* 18 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, TO(ALLOW, 18), TO(NOTIFY, 18)),
		/* 19 SOCKET */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])),
		/* 20 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AF_INET, 0, TO(ALLOW, 20)),
		/* 21 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[1])),
		/* 22 */ BPF_STMT(BPF_ALU | BPF_AND | BPF_K, (uint32_t) ~(SOCK_NONBLOCK | SOCK_CLOEXEC)),
		/* 23 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SOCK_STREAM, TO(NOTIFY, 23), 0),
		/* 24 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SOCK_DGRAM, TO(NOTIFY, 24), TO(ALLOW, 24)),
		/* 25 GETSOCKOPT */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getsockopt, 0, TO(ALLOW, 25)),
		/* 26 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[1])),
		/* 27 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SOL_SOCKET, 0, TO(ALLOW, 27)),
		/* 28 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[2])),
		/* 29 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SO_DOMAIN, TO(NOTIFY, 29), TO(ALLOW, 29)),
		/* 30 NOTIFY */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
		/* 31 ALLOW */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
#undef TO
	_Static_assert(sizeof(code) / sizeof(code[0]) == ALLOW + 1, "the returns are last");
	struct sock_fprog prog = {.len = sizeof(code) / sizeof(code[0]), .filter = code};
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		return -1;
	return sys_seccomp(SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
}

/* One notification, copied out of the kernel's buffer so that a thread may keep it. */
struct call {
	int listener;
	const struct config *cfg;
	uint64_t id;
	pid_t pid; /* the calling thread */
	int nr;
	uint64_t args[6];
};

#ifndef PIDFD_THREAD
#define PIDFD_THREAD O_EXCL /* Linux 6.9 */
#endif

/* A pidfd for the thread that made the call: notifications name threads, and a pidfd of a thread
 * other than the leader needs PIDFD_THREAD (6.9), else its thread group's leader (/proc/TID/status). */
static int thread_pidfd(pid_t tid)
{
	int pidfd = (int)syscall(SYS_pidfd_open, tid, PIDFD_THREAD);
	if (pidfd >= 0 || errno != EINVAL)
		return pidfd;
	char path[64], line[128];
	snprintf(path, sizeof(path), "/proc/%d/status", tid);
	FILE *f = fopen(path, "re");
	pid_t tgid = 0;
	while (f && !tgid && fgets(line, sizeof(line), f))
		sscanf(line, "Tgid: %d", &tgid);
	if (f)
		fclose(f);
	return tgid > 0 ? (int)syscall(SYS_pidfd_open, tgid, 0) : -1;
}

static int option(int fd, int level, int name)
{
	int value = 0;
	socklen_t len = sizeof(value);
	return getsockopt(fd, level, name, &value, &len) == 0 ? value : 0;
}

/* The supervisor's sockets carry a mark, so no table has to follow the program's close, dup and
 * fork. One made in place of an AF_INET socket: IPV6_FLOWINFO_SEND as the preload's own, and
 * IPV6_RECVHOPOPTS, which the preload never sets (no IPv4 option stands for it), so that a socket
 * the preload made in the same program (under --supervise) is told apart and left to it. The
 * program's own AF_INET6 socket sent through NAT64 for an IPv4-mapped address: IPV6_RECVHOPOPTS and
 * IPV6_RECVDSTOPTS, so that its NAT64 peers show mapped. TCP acts on neither; a datagram carrying
 * those extension headers, rare, brings the program a control message it did not ask for. */
enum mark { UNMARKED, MARK_SWAPPED, MARK_MAPPED };

static enum mark mark_of(int fd)
{
	/* IPv6 options read as 0 on any other socket (ENOPROTOOPT): no need to ask its family. */
	if (!option(fd, IPPROTO_IPV6, IPV6_RECVHOPOPTS))
		return UNMARKED;
	if (option(fd, IPPROTO_IPV6, IPV6_FLOWINFO_SEND))
		return MARK_SWAPPED;
	return option(fd, IPPROTO_IPV6, IPV6_RECVDSTOPTS) ? MARK_MAPPED : UNMARKED;
}

static bool set_mark(int fd, enum mark mark)
{
	int on = 1, second = mark == MARK_SWAPPED ? IPV6_FLOWINFO_SEND : IPV6_RECVDSTOPTS;
	return setsockopt(fd, IPPROTO_IPV6, IPV6_RECVHOPOPTS, &on, sizeof(on)) == 0 &&
	       setsockopt(fd, IPPROTO_IPV6, second, &on, sizeof(on)) == 0;
}

/* A program the kernel does not let the supervisor reach (a non-dumpable one: an executable it
 * may run but not read, prctl(PR_SET_DUMPABLE, 0)) is not served: said once. Sockets it makes
 * then stay AF_INET; those made before are left to the kernel as they are. */
static void warn_unreachable(pid_t pid)
{
	static bool warned;
	if (warned)
		return;
	warned = true;
	char path[64], name[64] = "?";
	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	FILE *f = fopen(path, "re");
	if (f && fgets(name, sizeof(name), f))
		name[strcspn(name, "\n")] = '\0';
	if (f)
		fclose(f);
	fprintf(stderr,
		"tnat64: %s (pid %d) is not served: the kernel refuses the supervisor its sockets (pidfd_getfd: "
		"EPERM; an executable that is not readable, or a program that made itself not dumpable)\n",
		name, pid);
}

/* Pidfds of the program's threads, kept (by the main thread, the only one that asks): opening one
 * for each call cost two system calls of the dozen a connect takes. A pidfd names its thread for
 * good: when the thread is gone and its number taken by another, pidfd_getfd fails (ESRCH) and a
 * new one is opened. Only PIDFD_THREAD's are kept: a thread group leader's pidfd would stand for
 * another thread of that number. */
static struct {
	pid_t tid;
	int pidfd;
} pidfds[64];

static int program_copy(pid_t tid, int fd)
{
	size_t slot = (size_t)tid % (sizeof(pidfds) / sizeof(pidfds[0]));
	if (pidfds[slot].tid == tid) {
		int copy = (int)syscall(SYS_pidfd_getfd, pidfds[slot].pidfd, fd, 0);
		if (copy >= 0 || errno != ESRCH)
			return copy;
	}
	int pidfd = (int)syscall(SYS_pidfd_open, tid, PIDFD_THREAD);
	bool kept = pidfd >= 0;
	if (!kept && errno == EINVAL)
		pidfd = thread_pidfd(tid);
	int copy = pidfd < 0 ? -1 : (int)syscall(SYS_pidfd_getfd, pidfd, fd, 0);
	int error = errno;
	if (kept) {
		if (pidfds[slot].tid)
			close(pidfds[slot].pidfd);
		pidfds[slot].tid = tid;
		pidfds[slot].pidfd = pidfd;
	} else if (pidfd >= 0) {
		close(pidfd);
	}
	errno = error;
	return copy;
}

/* The program's copy of a descriptor (-1 when the kernel gives none) and its mark. */
static int program_socket(const struct call *c, int fd, enum mark *mark)
{
	int copy = program_copy(c->pid, fd);
	if (copy < 0 && errno == EPERM)
		warn_unreachable(c->pid); /* it made itself not dumpable since: its sockets are beyond reach */
	*mark = copy < 0 ? UNMARKED : mark_of(copy);
	return copy;
}

/* The program's copy of a descriptor when it is one of ours (`mapped_too`: the program's own
 * AF_INET6 ones marked too), with its mark; -1 otherwise. */
static int our_socket(const struct call *c, int fd, bool mapped_too, enum mark *mark)
{
	int copy = program_socket(c, fd, mark);
	if (copy >= 0 && (*mark == MARK_SWAPPED || (mapped_too && *mark == MARK_MAPPED)))
		return copy;
	if (copy >= 0)
		close(copy);
	return -1;
}

/* The program's copy of a descriptor when it is a socket made in place of an AF_INET one; -1
 * otherwise. */
static int swapped_socket(const struct call *c, int fd)
{
	enum mark mark;
	return our_socket(c, fd, false, &mark);
}

static int socket_type(int fd)
{
	return option(fd, SOL_SOCKET, SO_TYPE);
}

static bool blocking(int fd)
{
	int flags = fcntl(fd, F_GETFL);
	return flags >= 0 && !(flags & O_NONBLOCK);
}

static int64_t ms_until(const struct timespec *end)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (end->tv_sec - now.tv_sec) * 1000 + (end->tv_nsec - now.tv_nsec) / 1000000;
}

/* The end of a wait of a socket's timeout (SO_RCVTIMEO, SO_SNDTIMEO) from now; false: none set. */
static bool timeout_end(int fd, int name, struct timespec *end)
{
	struct timeval limit = {0};
	socklen_t len = sizeof(limit);
	getsockopt(fd, SOL_SOCKET, name, &limit, &len);
	clock_gettime(CLOCK_MONOTONIC, end);
	end->tv_sec += limit.tv_sec + (end->tv_nsec / 1000 + limit.tv_usec) / 1000000;
	end->tv_nsec = ((end->tv_nsec / 1000 + limit.tv_usec) % 1000000) * 1000;
	return limit.tv_sec || limit.tv_usec;
}

/* The program's memory: read only while its call is still pending (it may have ended by a
 * signal, and the thread gone on), written back as the kernel would. */
static bool read_memory(const struct call *c, void *out, uint64_t address, size_t size)
{
	struct iovec local = {out, size}, remote = {(void *)(uintptr_t)address, size};
	return process_vm_readv(c->pid, &local, 1, &remote, 1, 0) == (ssize_t)size &&
	       ioctl(c->listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &c->id) == 0;
}

static bool write_memory(const struct call *c, uint64_t address, const void *data, size_t size)
{
	struct iovec local = {(void *)data, size}, remote = {(void *)(uintptr_t)address, size};
	return process_vm_writev(c->pid, &local, 1, &remote, 1, 0) == (ssize_t)size;
}

/* The program's buffers of a sendmsg() or recvmsg(): at most UIO_MAXIOV, as the kernel says
 * (EMSGSIZE); their total length in `total`. NULL with -errno in `error`. */
static struct iovec *read_iovecs(const struct call *c, uint64_t at, size_t count, size_t *total, int *error)
{
	*total = 0;
	*error = count > UIO_MAXIOV ? -EMSGSIZE : -EFAULT;
	struct iovec *v = count <= UIO_MAXIOV ? calloc(count + 1, sizeof(*v)) : NULL;
	if (!v || (count && !read_memory(c, v, at, count * sizeof(*v)))) {
		free(v);
		return NULL;
	}
	for (size_t i = 0; i < count; i++)
		*total += v[i].iov_len;
	return v;
}

/* A name as the program sees it: AF_INET on a swapped socket (config_ipv4_view); on its own
 * AF_INET6 one, a NAT64 address as the IPv4-mapped one it asked for. */
union name_view {
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
};

static socklen_t view_of(const struct config *cfg, enum mark mark, const struct sockaddr_in6 *real, union name_view *out)
{
	if (mark == MARK_SWAPPED) {
		config_ipv4_view(cfg, real, &out->in);
		return sizeof(out->in);
	}
	out->in6 = *real;
	struct in_addr ipv4;
	if (config_extract(cfg, &real->sin6_addr, &ipv4))
		ipv4_mapped(ipv4, &out->in6.sin6_addr);
	return sizeof(out->in6);
}

/* A name written back with the kernel's rules: at most the room the program gave (its length
 * word, read first), the full length told. 0 or -errno. */
static int write_name(const struct call *c, uint64_t at, uint64_t len_at, const union name_view *view, socklen_t full)
{
	int len;
	if (!read_memory(c, &len, len_at, sizeof(len)))
		return -EFAULT;
	if (len < 0)
		return -EINVAL;
	size_t n = (size_t)len < full ? (size_t)len : full;
	if ((n > 0 && !write_memory(c, at, view, n)) || !write_memory(c, len_at, &full, sizeof(full)))
		return -EFAULT;
	return 0;
}

/* Whether the calling thread lives in the supervisor's network namespace: 1, 0 when not, -1 when
 * the kernel does not let the supervisor look (a program that is not dumpable, whose sockets it
 * could not take either). A socket is made in the namespace of whoever makes it: one made here for
 * a program that left (unshare -n, a sandbox) would reach a network the program cannot, so such a
 * program's sockets stay its own. */
static int same_network(pid_t tid)
{
	static struct stat ours;
	if (!ours.st_ino && stat("/proc/self/ns/net", &ours) != 0)
		return 0;
	char path[64];
	struct stat theirs;
	snprintf(path, sizeof(path), "/proc/%d/ns/net", tid);
	if (stat(path, &theirs) != 0)
		return errno == EACCES || errno == EPERM ? -1 : 0;
	return theirs.st_ino == ours.st_ino && theirs.st_dev == ours.st_dev;
}

/* A call served here: answered (or left to a worker that answers), or not ours, for the kernel. */
enum served { NOT_OURS, ANSWERED };

/* socket(AF_INET, SOCK_STREAM or SOCK_DGRAM, ...): an AF_INET6 one installed in its place, the
 * descriptor flags asked for kept, answered in the same step (SECCOMP_ADDFD_FLAG_SEND). */
static enum served serve_socket(const struct call *c)
{
	int type = (int)c->args[1];
	int network = same_network(c->pid);
	if (network < 0)
		warn_unreachable(c->pid);
	if (network <= 0)
		return NOT_OURS;
	int s = socket(AF_INET6, type | SOCK_CLOEXEC, (int)c->args[2]);
	if (s < 0)
		return NOT_OURS; /* the kernel says why for AF_INET too */
	/* Dual-stack, so that the IPv4 way (mapped) stays open: the network's default unless
	 * net.ipv6.bindv6only says otherwise (read once: a system call less per socket). */
	static int v6only_default = -1;
	if (v6only_default < 0) {
		int value = 1; /* unknown: set it */
		FILE *f = fopen("/proc/sys/net/ipv6/bindv6only", "re");
		if (f && fscanf(f, "%d", &value) != 1)
			value = 1;
		if (f)
			fclose(f);
		v6only_default = value != 0;
	}
	int off = 0;
	/* A UDP socket hears whoever sends to its port: native IPv6 is kept out, as from the preload's
	 * (an AF_INET socket never has it, whatever call reads it). */
	struct sock_fprog screen = screen_program();
	if ((v6only_default && setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off)) != 0) ||
	    !set_mark(s, MARK_SWAPPED) ||
	    ((type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC)) == SOCK_DGRAM && screen.len &&
	     setsockopt(s, SOL_SOCKET, SO_ATTACH_FILTER, &screen, sizeof(screen)) != 0)) {
		close(s);
		return NOT_OURS;
	}
	struct seccomp_notif_addfd add = {
		.id = c->id,
		.flags = SECCOMP_ADDFD_FLAG_SEND,
		.srcfd = (unsigned)s,
		.newfd_flags = (type & SOCK_CLOEXEC) ? O_CLOEXEC : 0,
	};
	int installed = ioctl(c->listener, SECCOMP_IOCTL_NOTIF_ADDFD, &add);
	close(s);
	/* ENOENT: the call is gone (a signal); nothing to answer. */
	return installed >= 0 || errno == ENOENT ? ANSWERED : NOT_OURS;
}

/* Answers a call with its result: a count, or -errno for the program's errno. ENOENT: a signal
 * ended the call meanwhile; it is made again or not at all. */
static void answer(const struct call *c, int64_t result)
{
	struct seccomp_notif_resp r = {.id = c->id, .val = result < 0 ? 0 : result, .error = result < 0 ? (int)result : 0};
	ioctl(c->listener, SECCOMP_IOCTL_NOTIF_SEND, &r);
}

static const int64_t HANDED_ON = INT64_MIN; /* answered already, or left to a thread that answers */

/* Work that waits (a blocking connect, send or receive) runs on a worker thread, so that the
 * program's other calls are served meanwhile. Workers stay for the next such work: a thread made
 * for each call doubled the cost of a connect. Each piece of work has a worker of its own, an
 * idle one or a new one, so none waits behind another's minutes-long connect. */
struct job {
	void *(*body)(void *);
	void *arg;
	struct job *next;
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct job *queue;
	unsigned idle; /* workers waiting, not yet promised a job */
} workers = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, 0};

static void *work(void *unused)
{
	(void)unused;
	pthread_mutex_lock(&workers.lock);
	for (;;) {
		while (!workers.queue)
			pthread_cond_wait(&workers.wake, &workers.lock);
		struct job *job = workers.queue;
		workers.queue = job->next;
		pthread_mutex_unlock(&workers.lock);
		job->body(job->arg);
		free(job);
		pthread_mutex_lock(&workers.lock);
		workers.idle++;
	}
	return NULL;
}

static bool run_on_worker(void *(*body)(void *), void *arg)
{
	struct job *job = malloc(sizeof(*job));
	if (!job)
		return false;
	*job = (struct job){body, arg, NULL};
	pthread_mutex_lock(&workers.lock);
	bool started = true;
	if (workers.idle) {
		workers.idle--;
	} else {
		/* Signals are the main thread's (its SIGALRM ends a wait in connect_near, its handlers
		 * pass the others on): a worker is born with them blocked, and waits as the program would. */
		pthread_t thread;
		pthread_attr_t detached;
		sigset_t all, before;
		sigfillset(&all);
		pthread_sigmask(SIG_BLOCK, &all, &before);
		pthread_attr_init(&detached);
		pthread_attr_setdetachstate(&detached, PTHREAD_CREATE_DETACHED);
		started = pthread_create(&thread, &detached, work, NULL) == 0;
		pthread_attr_destroy(&detached);
		pthread_sigmask(SIG_SETMASK, &before, NULL);
	}
	if (started) {
		struct job **end = &workers.queue;
		while (*end)
			end = &(*end)->next;
		*end = job;
		pthread_cond_signal(&workers.wake);
	}
	pthread_mutex_unlock(&workers.lock);
	if (!started)
		free(job);
	return started;
}

/* Options a program may set on a socket before bind(), carried to the socket that replaces it. */
static const struct {
	int level, name;
} carried[] = {
	{SOL_SOCKET, SO_REUSEADDR}, {SOL_SOCKET, SO_REUSEPORT}, {SOL_SOCKET, SO_KEEPALIVE},
	{SOL_SOCKET, SO_RCVBUF},    {SOL_SOCKET, SO_SNDBUF},    {SOL_SOCKET, SO_BROADCAST},
	{SOL_SOCKET, SO_RCVTIMEO},  {SOL_SOCKET, SO_SNDTIMEO},  {SOL_SOCKET, SO_LINGER},
	{SOL_SOCKET, SO_PRIORITY},  {SOL_SOCKET, SO_RCVLOWAT},  {IPPROTO_IP, IP_TOS},
	{IPPROTO_IP, IP_TTL},	    {IPPROTO_IP, IP_RECVERR},   {IPPROTO_TCP, TCP_NODELAY},
};

/* bind(ours, sockaddr_in) to an address other than UDP's 0.0.0.0: a server, or a client that
 * picks its IPv4 source. Its socket becomes the AF_INET one it asked for again (installed at the
 * same number, SECCOMP_ADDFD_FLAG_SETFD, with its options and flags), and the bind goes on in the
 * kernel: listen, accept and their names are the kernel's own IPv4 ones, and nothing is exposed
 * on IPv6. */
static enum served serve_bind(const struct call *c)
{
	int fd = (int)c->args[0];
	int copy = swapped_socket(c, fd);
	if (copy < 0)
		return NOT_OURS;
	struct sockaddr_in local = {0};
	size_t n = c->args[2] < sizeof(local) ? c->args[2] : sizeof(local);
	if (c->args[2] > sizeof(struct sockaddr_storage)) { /* EINVAL, the kernel's, before the socket is looked at */
		close(copy);
		return NOT_OURS;
	}
	if (n && !read_memory(c, &local, c->args[1], n)) {
		close(copy);
		answer(c, -EFAULT);
		return ANSWERED;
	}
	if (n == sizeof(local) && local.sin_family == AF_INET && local.sin_addr.s_addr == htonl(INADDR_ANY) &&
	    socket_type(copy) == SOCK_DGRAM) {
		/* UDP on 0.0.0.0 (a resolver's socket, a client picking its port) stays ours, on [::]
		 * dual-stack with the same port, so that its datagrams can go through NAT64. */
		struct sockaddr_in6 all = {.sin6_family = AF_INET6, .sin6_port = local.sin_port};
		answer(c, bind(copy, (const struct sockaddr *)&all, sizeof(all)) == 0 ? 0 : -errno);
		close(copy);
		return ANSWERED;
	}
	int flags = fcntl(copy, F_GETFL);
	int s = socket(AF_INET, socket_type(copy) | SOCK_CLOEXEC, option(copy, SOL_SOCKET, SO_PROTOCOL));
	if (s >= 0 && flags >= 0)
		fcntl(s, F_SETFL, flags & O_NONBLOCK);
	for (size_t i = 0; s >= 0 && i < sizeof(carried) / sizeof(carried[0]); i++) {
		char value[sizeof(struct timeval)]; /* the largest of them */
		socklen_t len = sizeof(value);
		if (getsockopt(copy, carried[i].level, carried[i].name, value, &len) == 0)
			setsockopt(s, carried[i].level, carried[i].name, value, len);
	}
	close(copy);
	if (s < 0)
		return NOT_OURS;
	/* The descriptor's close-on-exec flag is the program's: read it from its fdinfo. */
	char path[64], line[64];
	snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", (int)c->pid, fd);
	FILE *info = fopen(path, "re");
	unsigned file_flags = 0;
	while (info && fgets(line, sizeof(line), info))
		sscanf(line, "flags: %o", &file_flags);
	if (info)
		fclose(info);
	struct seccomp_notif_addfd add = {
		.id = c->id,
		.flags = SECCOMP_ADDFD_FLAG_SETFD,
		.srcfd = (unsigned)s,
		.newfd = (unsigned)fd,
		.newfd_flags = file_flags & O_CLOEXEC,
	};
	ioctl(c->listener, SECCOMP_IOCTL_NOTIF_ADDFD, &add);
	close(s);
	return NOT_OURS; /* the bind itself goes on, on the socket now at that number */
}

/* Where an IPv4 destination goes: through NAT64 as the rules say, over IPv4 (mapped) otherwise;
 * IPv4 first while the cache says NAT64 broke for it (cache.c, shared with the preload). */
struct way {
	struct in_addr ipv4;
	bool nat64, ipv4_first;
	struct sockaddr_in6 to_nat64, to_ipv4;
};

static struct way way_to(const struct config *cfg, const struct sockaddr_in *to)
{
	struct way w = {.ipv4 = to->sin_addr, .to_ipv4 = {.sin6_family = AF_INET6, .sin6_port = to->sin_port}};
	ipv4_mapped(to->sin_addr, &w.to_ipv4.sin6_addr);
	struct rule rule = config_resolve(cfg, to->sin_addr);
	w.nat64 = rule.kind == RULE_NAT64;
	w.ipv4_first = w.nat64 && cache_prefers_ipv4(to->sin_addr);
	w.to_nat64 = w.to_ipv4;
	if (w.nat64)
		nat64_synthesize(rule.prefix, to->sin_addr, &w.to_nat64.sin6_addr);
	return w;
}

/* What an attempt teaches: a way that broke (no route, a timeout), or a connection made. */
static void way_learn(const struct way *w, enum method method, int64_t result, bool connecting)
{
	if ((result >= 0 && connecting) || (result < 0 && TNAT64_BROKEN((int)-result)))
		cache_learn(w->ipv4, method, result >= 0);
}

typedef int64_t (*attempt_fn)(const struct sockaddr_in6 *to, void *ctx);

static enum method way_first(const struct way *w)
{
	return w->nat64 && !w->ipv4_first ? METHOD_NAT64 : METHOD_IPV4;
}

static const struct sockaddr_in6 *way_target(const struct way *w, enum method method)
{
	return method == METHOD_NAT64 ? &w->to_nat64 : &w->to_ipv4;
}

/* After the `first` way's result (0 or a count, or -errno): the other tried at once when the first
 * had no route. When both fail the program gets the IPv4 attempt's error: the one it would have
 * had without tnat64. */
static int64_t way_after(const struct way *w, enum method first, int64_t result, attempt_fn reach, void *ctx,
			 bool connecting)
{
	if (!w->nat64)
		return result;
	way_learn(w, first, result, connecting);
	if (result >= 0 || !TNAT64_UNREACHABLE((int)-result))
		return result;
	enum method second = first == METHOD_NAT64 ? METHOD_IPV4 : METHOD_NAT64;
	int64_t again = reach(way_target(w, second), ctx);
	way_learn(w, second, again, connecting);
	return again < 0 && second == METHOD_NAT64 && again != -EINPROGRESS ? result : again;
}

/* `reach` (a connect or a send) the way's way, then the other when that has no route. */
static int64_t way_reach(const struct way *w, attempt_fn reach, void *ctx, bool connecting)
{
	enum method first = way_first(w);
	return way_after(w, first, reach(way_target(w, first), ctx), reach, ctx, connecting);
}

/* The calls that wait on workers (a blocking connect, a blocking receive), by the program's thread
 * and socket. A thread makes one call at a time: a new call from a thread that has one waiting, on
 * the same socket, is that call made again after a signal (SA_RESTART), or made anew after EINTR.
 * On a socket with a timeout (SO_SNDTIMEO, SO_RCVTIMEO) the kernel makes no call again but
 * answers EINTR (signal(7)): so is this one answered, and the worker leaves (a program without
 * SA_RESTART that calls again within CHECK_MS gets EINTR once more). Without a timeout the wait
 * goes on: a connect's worker answers the new call (a worker per restart would pile up and race
 * for the socket's end); a receive's leaves, and the new call waits on its own. A worker whose
 * call ended and was not taken over leaves too. */
enum { CHECK_MS = 20 }; /* how often a worker looks for its call's end */

struct wait {
	pid_t tid; /* 0: a free entry */
	ino_t socket;
	uint64_t id; /* the call answered when the wait ends */
	bool left;   /* the worker leaves without answering */
};
static struct wait waits[64];
static pthread_mutex_t waits_lock = PTHREAD_MUTEX_INITIALIZER;

static ino_t socket_inode(int fd)
{
	struct stat st;
	return fstat(fd, &st) == 0 ? st.st_ino : 0;
}

/* A worker's wait begins (NULL when the table is full: it then cannot be taken over). */
static struct wait *wait_begin(const struct call *c, ino_t socket)
{
	struct wait *w = NULL;
	pthread_mutex_lock(&waits_lock);
	for (size_t i = 0; i < sizeof(waits) / sizeof(waits[0]) && !w; i++)
		if (!waits[i].tid) {
			w = &waits[i];
			*w = (struct wait){.tid = c->pid, .socket = socket, .id = c->id};
		}
	pthread_mutex_unlock(&waits_lock);
	return w;
}

enum taken { NOT_TAKEN, TAKEN_OVER, INTERRUPTED };

/* A new blocking call on the socket `copy` against the wait of the thread's earlier one:
 * INTERRUPTED (answer EINTR: the socket has the timeout `timeout`, SO_SNDTIMEO or SO_RCVTIMEO),
 * TAKEN_OVER (a connect: the worker answers it), or NOT_TAKEN. The socket is looked at only when
 * the thread has a wait: most calls cost no system call here. */
static enum taken wait_take_over(const struct call *c, int copy, bool connecting, int timeout)
{
	enum taken taken = NOT_TAKEN;
	ino_t socket = 0;
	pthread_mutex_lock(&waits_lock);
	for (size_t i = 0; i < sizeof(waits) / sizeof(waits[0]) && taken == NOT_TAKEN; i++) {
		struct wait *w = &waits[i];
		if (w->tid != c->pid || w->left || (!socket && !(socket = socket_inode(copy))) || w->socket != socket)
			continue;
		struct timespec unused;
		bool timed = timeout_end(copy, timeout, &unused);
		if (connecting && !timed) {
			w->id = c->id;
			taken = TAKEN_OVER;
		} else {
			w->left = true;
			taken = timed ? INTERRUPTED : NOT_TAKEN;
		}
	}
	pthread_mutex_unlock(&waits_lock);
	return taken;
}

/* The call the wait answers now, or 0 when it is over: its call ended and no other took it over
 * (the entry is freed then), or the worker is to leave. */
static uint64_t wait_call(struct wait *w, const struct call *c)
{
	if (!w)
		return ioctl(c->listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &c->id) == 0 ? c->id : 0;
	pthread_mutex_lock(&waits_lock);
	uint64_t id = w->left ? 0 : w->id;
	if (id && ioctl(c->listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &id) != 0)
		id = 0;
	if (!id)
		w->tid = 0;
	pthread_mutex_unlock(&waits_lock);
	return id;
}

/* The wait ends with `result`, answered to the call that has it now (not when the worker is to
 * leave, nor when the result was answered already: HANDED_ON). */
static void wait_end(struct wait *w, const struct call *c, int64_t result)
{
	struct call now = *c;
	if (w) {
		pthread_mutex_lock(&waits_lock);
		now.id = w->left ? 0 : w->id;
		w->tid = 0;
		pthread_mutex_unlock(&waits_lock);
	}
	if (now.id && result != HANDED_ON)
		answer(&now, result);
}

/* One connect() of the program's, decided. */
struct connecting {
	struct call call;
	int copy;
	struct way way;
	enum method tried; /* the way of the last attempt */
	bool already;	   /* the socket was connecting when the call came */
};

static int64_t reach_connect(const struct sockaddr_in6 *to, void *ctx)
{
	struct connecting *w = ctx;
	w->tried = to == &w->way.to_nat64 ? METHOD_NAT64 : METHOD_IPV4;
	return connect(w->copy, (const struct sockaddr *)to, sizeof(*to)) == 0 ? 0 : -errno;
}

/* A blocking connect is made here, as the program would make it, for at most a near network's
 * handshake (250 us, a timer's SIGALRM ending the wait: EINTR, the connect going on in the
 * kernel); one still under way then is waited for by a worker (connect_blocking). No flag of the
 * program's socket is touched. A worker for every blocking connect cost half the connect again. */
static void no_restart(int sig)
{
	(void)sig;
}

static int64_t connect_near(struct connecting *w)
{
	/* Again every 250 us until disarmed: a signal taken before the connect began (the thread
	 * preempted) must not leave it waiting for minutes. */
	static const struct itimerval near = {.it_interval = {.tv_usec = 250}, .it_value = {.tv_usec = 250}}, off = {0};
	setitimer(ITIMER_REAL, &near, NULL);
	int64_t result = way_reach(&w->way, reach_connect, w, true);
	setitimer(ITIMER_REAL, &off, NULL);
	return result;
}

/* A worker waits for the handshake's end in slices, so that it sees its call end (a signal) or
 * be taken over, and SO_SNDTIMEO pass (EINPROGRESS, as the kernel answers a blocking connect that
 * times out); then connects again, which returns at once with the outcome and leaves the socket
 * connected as the program's own connect would. */
static void *connect_blocking(void *arg)
{
	struct connecting *w = arg;
	struct timespec end;
	bool timed = timeout_end(w->copy, SO_SNDTIMEO, &end);
	struct wait *wait = wait_begin(&w->call, socket_inode(w->copy));
	for (;;) {
		int64_t left = timed ? ms_until(&end) : CHECK_MS;
		struct pollfd p = {.fd = w->copy, .events = POLLOUT};
		int ready = poll(&p, 1, left < 0 ? 0 : left < CHECK_MS ? (int)left : CHECK_MS);
		if (ready > 0) {
			int64_t result = reach_connect(way_target(&w->way, w->tried), w);
			if (w->tried == way_first(&w->way))
				result = way_after(&w->way, w->tried, result, reach_connect, w, true);
			else
				way_learn(&w->way, w->tried, result, true);
			wait_end(wait, &w->call, result);
			break;
		}
		if (timed && ms_until(&end) <= 0) {
			/* The kernel's answer to a blocking connect that times out: EINPROGRESS, or EALREADY
			 * when the socket was connecting already. */
			wait_end(wait, &w->call, w->already ? -EALREADY : -EINPROGRESS);
			break;
		}
		if (!wait_call(wait, &w->call))
			break; /* the program's call ended: the kernel goes on connecting, as after a signal */
	}
	close(w->copy);
	free(w);
	return NULL;
}

/* A UDP socket connected one way keeps that way's local address when it connects again the
 * other (an AF_INET socket has no such trouble): it is disconnected first. */
static void leave_other_way(int copy, const struct way *w)
{
	struct sockaddr_in6 peer;
	socklen_t len = sizeof(peer);
	if (getpeername(copy, (struct sockaddr *)&peer, &len) == 0 &&
	    IN6_IS_ADDR_V4MAPPED(&peer.sin6_addr) == (w->nat64 && !w->ipv4_first)) {
		struct sockaddr unspec = {.sa_family = AF_UNSPEC};
		connect(copy, &unspec, sizeof(unspec));
	}
}

/* The program's own AF_INET6 socket given an IPv4-mapped destination: served as a swapped one
 * (its IPv4 destination in `ipv4`) when the rules send that destination through NAT64, and marked
 * so that its NAT64 peers show mapped; else the kernel's, over IPv4. A socket the preload made
 * (IPV6_FLOWINFO_SEND) has had its way chosen already. */
static bool adopt_mapped(const struct config *cfg, int copy, enum mark mark, const union name_view *to, size_t len,
			 struct sockaddr_in *ipv4)
{
	if (len < sizeof(to->in6) || to->in6.sin6_family != AF_INET6 || !IN6_IS_ADDR_V4MAPPED(&to->in6.sin6_addr))
		return false;
	*ipv4 = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = to->in6.sin6_port};
	memcpy(&ipv4->sin_addr, &to->in6.sin6_addr.s6_addr[12], 4);
	if (mark == MARK_MAPPED)
		return true;
	int type = socket_type(copy);
	return option(copy, SOL_SOCKET, SO_DOMAIN) == AF_INET6 && (type == SOCK_STREAM || type == SOCK_DGRAM) &&
	       !option(copy, IPPROTO_IPV6, IPV6_V6ONLY) && !option(copy, IPPROTO_IPV6, IPV6_FLOWINFO_SEND) &&
	       config_resolve(cfg, ipv4->sin_addr).kind == RULE_NAT64 && set_mark(copy, MARK_MAPPED);
}

/* An address the program names, read as the kernel reads it (move_addr_to_kernel): at most a
 * sockaddr_storage; false when it cannot be read (the kernel then answers EINVAL or EFAULT, for
 * ours as for any socket). `n`: the bytes that count. */
static bool read_name(const struct call *c, uint64_t at, uint64_t len, union name_view *to, size_t *n)
{
	memset(to, 0, sizeof(*to));
	*n = len < sizeof(*to) ? len : sizeof(*to);
	return len <= sizeof(struct sockaddr_storage) && *n >= sizeof(sa_family_t) && read_memory(c, to, at, *n);
}

/* The IPv4 destination of a connect or a send on a socket of the program's: 1 to serve it (in
 * `ipv4`), 0 to leave the call to the kernel, or -errno to answer, as an AF_INET socket refuses
 * another family. AF_UNSPEC is served as AF_INET, as udp_sendmsg reads it (a connect with it, a
 * disconnect, never comes here). */
static int destination_of(const struct config *cfg, int copy, enum mark mark, const union name_view *to, size_t n,
			  struct sockaddr_in *ipv4)
{
	if (mark != MARK_SWAPPED)
		return adopt_mapped(cfg, copy, mark, to, n, ipv4);
	if (to->in.sin_family != AF_INET && to->in.sin_family != AF_UNSPEC)
		return -EAFNOSUPPORT;
	*ipv4 = to->in;
	return n < sizeof(to->in) ? -EINVAL : 1;
}

/* connect(ours, sockaddr_in), or the program's AF_INET6 socket to an IPv4-mapped address: the
 * way's. A non-blocking socket answers at once (EINPROGRESS, as the program's own would), and UDP
 * never waits; a blocking TCP connect here for a near handshake's time (connect_near), on a worker
 * after that (connect_blocking); one made again while a worker waits for it is that worker's. */
static enum served serve_connect(const struct call *c)
{
	/* Other families (AF_UNIX, ...) and AF_UNSPEC (a disconnect) are the kernel's, not looked at. */
	union name_view name;
	size_t n;
	if (!read_name(c, c->args[1], c->args[2], &name, &n) ||
	    (name.in.sin_family != AF_INET && name.in.sin_family != AF_INET6))
		return NOT_OURS;
	enum mark mark;
	int copy = program_socket(c, (int)c->args[0], &mark);
	struct sockaddr_in to;
	int64_t result = copy < 0 ? 0 : destination_of(c->cfg, copy, mark, &name, n, &to);
	if (result == 0) {
		if (copy >= 0)
			close(copy);
		return NOT_OURS;
	}
	struct connecting w = {.call = *c, .copy = copy};
	if (result > 0) {
		w.way = way_to(c->cfg, &to);
		int type = socket_type(copy);
		if (type == SOCK_DGRAM)
			leave_other_way(copy, &w.way);
		bool waits = type == SOCK_STREAM && blocking(copy);
		enum taken taken = waits ? wait_take_over(c, copy, true, SO_SNDTIMEO) : NOT_TAKEN;
		if (taken != NOT_TAKEN) {
			if (taken == INTERRUPTED)
				answer(c, -EINTR);
			close(copy); /* else the worker waiting for this socket's handshake answers */
			return ANSWERED;
		}
		if (waits) {
			/* tcpi_state, the first byte of struct tcp_info: all that is asked. */
			uint8_t state = TCP_CLOSE;
			socklen_t len = sizeof(state);
			getsockopt(copy, IPPROTO_TCP, TCP_INFO, &state, &len);
			w.already = state != TCP_CLOSE;
		}
		result = waits ? connect_near(&w) : way_reach(&w.way, reach_connect, &w, true);
		struct connecting *mine = waits && result == -EINTR ? malloc(sizeof(*mine)) : NULL;
		if (mine) {
			*mine = w;
			if (run_on_worker(connect_blocking, mine))
				return ANSWERED;
			free(mine);
		}
	}
	answer(c, result);
	close(copy);
	return ANSWERED;
}

/* One datagram of the program's to send, its data read from the program. */
struct sending {
	struct call call;
	int copy, flags;
	bool unnamed; /* sendmmsg's message without an address: to the peer */
	struct way way;
	struct iovec data;
	void *control;
	size_t control_len;
	uint64_t sent_at; /* sendmmsg: where the message's byte count goes (the call answered 1); 0 else */
};

static int64_t reach_send(const struct sockaddr_in6 *to, void *ctx)
{
	const struct sending *s = ctx;
	struct msghdr m = {
		.msg_name = (void *)to,
		.msg_namelen = to ? sizeof(*to) : 0,
		.msg_iov = (struct iovec *)&s->data,
		.msg_iovlen = 1,
		.msg_control = s->control,
		.msg_controllen = s->control_len,
	};
	ssize_t r = sendmsg(s->copy, &m, s->flags | MSG_NOSIGNAL);
	return r < 0 ? -errno : r;
}

static void sending_free(struct sending *s)
{
	if (!s)
		return;
	close(s->copy);
	free(s->data.iov_base);
	free(s->control);
	free(s);
}

static int64_t send_now(struct sending *s, int flags)
{
	s->flags = flags;
	int64_t sent = s->unnamed ? reach_send(NULL, s) : way_reach(&s->way, reach_send, s, false);
	if (sent >= 0 && s->sent_at) {
		unsigned count = (unsigned)sent;
		sent = write_memory(&s->call, s->sent_at, &count, sizeof(count)) ? 1 : -EFAULT;
	}
	return sent;
}

static void *send_blocking(void *arg)
{
	struct sending *s = arg;
	answer(&s->call, send_now(s, s->flags));
	sending_free(s);
	return NULL;
}


/* Sends without waiting; a blocking socket whose buffer is full waits in a thread, which takes
 * `s` and answers (HANDED_ON). */
static int64_t send_datagram(struct sending *s)
{
	int flags = s->flags;
	int64_t sent = send_now(s, flags | MSG_DONTWAIT);
	s->flags = flags;
	if (sent == -EAGAIN && blocking(s->copy) && !(flags & MSG_DONTWAIT) && run_on_worker(send_blocking, s))
		return HANDED_ON;
	return sent;
}

/* One datagram of the program's, read (`h`: its header, the buffers in the program's memory when
 * `remote_buffers`): 1 with `*out` ready, 0 when it is the kernel's to send (not to a sockaddr_in
 * on ours, nor to an IPv4-mapped address through NAT64 on the program's own socket), or -errno as
 * an AF_INET socket answers. `copy` is taken in either case. */
static int64_t read_datagram(const struct call *c, int copy, enum mark mark, const struct msghdr *h,
			     bool remote_buffers, int flags, bool unnamed_too, struct sending **out)
{
	*out = NULL;
	struct msghdr normal = *h;
	if (remote_buffers && !normal.msg_namelen)
		normal.msg_name = NULL; /* a message header's empty name is none (the kernel's ___sys_sendmsg) */
	if (remote_buffers && normal.msg_namelen > sizeof(struct sockaddr_storage))
		normal.msg_namelen = sizeof(struct sockaddr_storage); /* and a long one is cut */
	h = &normal;
	struct sockaddr_in to;
	union name_view name;
	size_t n;
	bool unnamed = !h->msg_name && unnamed_too && mark != UNMARKED;
	int64_t result = unnamed ? 1
			 : !h->msg_name || !read_name(c, (uint64_t)(uintptr_t)h->msg_name, h->msg_namelen, &name, &n)
			     ? 0
			     : destination_of(c->cfg, copy, mark, &name, n, &to);
	struct sending *s = result ? calloc(1, sizeof(*s)) : NULL;
	if (!s) {
		close(copy);
		return result ? -ENOBUFS : 0;
	}
	*s = (struct sending){.call = *c, .copy = copy, .flags = flags, .unnamed = unnamed};
	if (result > 0 && !unnamed)
		s->way = way_to(c->cfg, &to);
	int error = 0;
	size_t size = 0;
	struct iovec *from = remote_buffers
				     ? read_iovecs(c, (uint64_t)(uintptr_t)h->msg_iov, h->msg_iovlen, &size, &error)
				     : h->msg_iov;
	for (size_t i = 0; !remote_buffers && i < h->msg_iovlen; i++)
		size += from[i].iov_len;
	if (result > 0 && !from)
		result = error;
	if (result > 0 && size > IPV4_UDP_MAX_PAYLOAD)
		result = -EMSGSIZE; /* an AF_INET socket's bound */
	if (result > 0 && h->msg_controllen > (1u << 16))
		result = -ENOBUFS; /* beyond what the kernel takes (net.core.optmem_max) */
	if (result > 0) {
		s->data = (struct iovec){malloc(size + 1), size};
		s->control_len = h->msg_controllen;
		s->control = s->control_len ? malloc(s->control_len) : NULL;
		struct iovec local = s->data;
		if (!s->data.iov_base || (s->control_len && !s->control))
			result = -ENOBUFS;
		else if ((size && process_vm_readv(c->pid, &local, 1, from, h->msg_iovlen, 0) != (ssize_t)size) ||
			 (s->control_len && !read_memory(c, s->control, (uint64_t)(uintptr_t)h->msg_control, s->control_len)))
			result = -EFAULT;
	}
	if (remote_buffers)
		free(from);
	if (result > 0)
		*out = s;
	else
		sending_free(s);
	return result;
}

/* sendto()/sendmsg() of a datagram to a sockaddr_in on ours, or to an IPv4-mapped address on the
 * program's own AF_INET6 socket: sent from here, the way's, with the program's flags and control
 * messages. TCP ignores the address. */
static enum served serve_send(const struct call *c)
{
	bool msg = c->nr == SYS_sendmsg;
	struct iovec one = {(void *)(uintptr_t)c->args[1], c->args[2]};
	struct msghdr h = {.msg_name = (void *)(uintptr_t)c->args[4], .msg_namelen = (socklen_t)c->args[5],
			   .msg_iov = &one, .msg_iovlen = 1};
	if (msg && !read_memory(c, &h, c->args[1], sizeof(h)))
		return NOT_OURS; /* EFAULT, the kernel's */
	if (!h.msg_name || (msg && !h.msg_namelen))
		return NOT_OURS; /* no address: to the peer, the kernel's */
	enum mark mark;
	int copy = program_socket(c, (int)c->args[0], &mark);
	if (copy >= 0 && socket_type(copy) != SOCK_DGRAM) {
		close(copy);
		copy = -1;
	}
	struct sending *s;
	int64_t result = copy < 0 ? 0 : read_datagram(c, copy, mark, &h, msg, (int)c->args[msg ? 2 : 3], false, &s);
	if (result == 0)
		return NOT_OURS;
	if (result > 0 && (result = send_datagram(s)) == HANDED_ON)
		return ANSWERED;
	answer(c, result);
	sending_free(s);
	return ANSWERED;
}

/* sendmmsg() on ours UDP, or on the program's own socket when a message goes to an IPv4-mapped
 * address through NAT64: each message as sendmsg() would send it, until one fails; the count sent,
 * or the first message's error, as the kernel answers. */
static enum served serve_sendmmsg(const struct call *c)
{
	size_t count = c->args[2] < UIO_MAXIOV ? c->args[2] : UIO_MAXIOV; /* the kernel's bound */
	struct mmsghdr *vec = count ? calloc(count, sizeof(*vec)) : NULL;
	enum mark mark = UNMARKED;
	int copy = vec && read_memory(c, vec, c->args[1], count * sizeof(*vec)) ? program_socket(c, (int)c->args[0], &mark) : -1;
	if (copy >= 0 && (socket_type(copy) != SOCK_DGRAM || (mark == UNMARKED && !vec[0].msg_hdr.msg_name))) {
		close(copy);
		copy = -1;
	}
	if (copy < 0) {
		free(vec);
		return NOT_OURS;
	}
	int64_t sent = 0, result = 0;
	for (size_t i = 0; i < count; i++) {
		struct sending *s;
		int mine = dup(copy);
		result = mine < 0 ? -errno : read_datagram(c, mine, mark, &vec[i].msg_hdr, true, (int)c->args[3], true, &s);
		if (result == 0 && i == 0) { /* the program's own socket, its first message not ours: the kernel's */
			close(copy);
			free(vec);
			return NOT_OURS;
		}
		if (result > 0) {
			s->sent_at = c->args[1] + i * sizeof(*vec) + offsetof(struct mmsghdr, msg_len);
			if (i > 0)
				s->flags |= MSG_DONTWAIT; /* a full buffer ends the batch, as it may */
			result = send_datagram(s);
			if (result == HANDED_ON) {
				close(copy);
				free(vec);
				return ANSWERED;
			}
			sending_free(s);
		}
		if (result <= 0)
			break;
		sent++;
	}
	answer(c, sent ? sent : result);
	close(copy);
	free(vec);
	return ANSWERED;
}

/* One recvfrom() or recvmsg() on ours UDP that wants the source: received here, written back. */
struct receiving {
	struct call call;
	int copy;
	enum mark mark;
	int flags;
	struct iovec *to; /* the program's buffers */
	size_t count, room;
	uint64_t name, name_len; /* where the source and its length go; 0: nowhere */
	uint64_t msg;		 /* recvmsg's header, for its flags and control length; 0: recvfrom */
	uint64_t len_at;	 /* recvmmsg: where the datagram's length goes (the call answered 1); 0 else */
	bool timed;		 /* SO_RCVTIMEO: the wait ends at `end` */
	struct timespec end;
	uint64_t control;
	size_t control_len;
};

static void receiving_free(struct receiving *r)
{
	close(r->copy);
	free(r->to);
	free(r);
}

/* One datagram, answered (HANDED_ON); else -errno, unanswered (-EAGAIN: none queued). A source an
 * AF_INET socket could not have had (native IPv6, when the program replaced the screen filter) is
 * dropped, and the next one taken. The datagram is taken, then given: a program that reads the
 * socket again at once must not find it a second time (a signal ending the call in between loses
 * it, as UDP may). */
static int64_t receive_now(struct receiving *r)
{
	char *data = malloc(r->room + 1), *control = r->control_len ? malloc(r->control_len) : NULL;
	if (!data || (r->control_len && !control)) {
		free(data);
		free(control);
		return -ENOBUFS;
	}
	int64_t result;
	for (;;) {
		struct sockaddr_in6 from = {0};
		struct iovec local = {data, r->room};
		struct msghdr m = {&from, sizeof(from), &local, 1, control, r->control_len, 0};
		ssize_t n = recvmsg(r->copy, &m, r->flags | MSG_DONTWAIT);
		result = n < 0 ? -errno : n;
		if (n < 0)
			break;
		if (r->mark == MARK_SWAPPED && !config_is_ipv4_source(r->call.cfg, &from.sin6_addr)) {
			if (r->flags & MSG_PEEK)
				recv(r->copy, NULL, 0, MSG_DONTWAIT | MSG_TRUNC); /* the peeked one, dropped */
			continue;
		}
		union name_view view;
		socklen_t view_len = view_of(r->call.cfg, r->mark, &from, &view);
		local.iov_len = (size_t)n < r->room ? (size_t)n : r->room;
		if (local.iov_len && process_vm_writev(r->call.pid, &local, 1, r->to, r->count, 0) != (ssize_t)local.iov_len)
			result = -EFAULT;
		if (result >= 0 && r->name)
			result = write_name(&r->call, r->name, r->name_len, &view, view_len) ?: result;
		if (result >= 0 && r->msg) {
			uint64_t at = r->msg;
			if ((m.msg_controllen && !write_memory(&r->call, r->control, control, m.msg_controllen)) ||
			    !write_memory(&r->call, at + offsetof(struct msghdr, msg_controllen), &m.msg_controllen,
					  sizeof(m.msg_controllen)) ||
			    !write_memory(&r->call, at + offsetof(struct msghdr, msg_flags), &m.msg_flags, sizeof(m.msg_flags)))
				result = -EFAULT;
		}
		unsigned count = (unsigned)result;
		if (result >= 0 && r->len_at)
			result = write_memory(&r->call, r->len_at, &count, sizeof(count)) ? 1 : -EFAULT;
		answer(&r->call, result);
		result = HANDED_ON;
		break;
	}
	free(data);
	free(control);
	return result;
}

/* A blocking receive waits here for a datagram, its SO_RCVTIMEO, the socket's shutdown, or the
 * program's call to end (a signal: this one must not take the datagram meant for the next call). */
static void *receive_blocking(void *arg)
{
	struct receiving *r = arg;
	struct wait *wait = wait_begin(&r->call, socket_inode(r->copy));
	for (;;) {
		int64_t left = r->timed ? ms_until(&r->end) : CHECK_MS;
		struct pollfd p = {.fd = r->copy, .events = POLLIN | POLLRDHUP};
		int ready = poll(&p, 1, left < 0 ? 0 : left < CHECK_MS ? (int)left : CHECK_MS);
		if (!wait_call(wait, &r->call))
			break;
		int64_t result = ready > 0 ? receive_now(r) : -EAGAIN;
		if (result == -EAGAIN && (p.revents & POLLRDHUP))
			result = 0; /* shut down: the end of the stream, as the kernel says */
		else if (result == -EAGAIN && !(r->timed && ms_until(&r->end) <= 0))
			continue;
		wait_end(wait, &r->call, result);
		break;
	}
	receiving_free(r);
	return NULL;
}

/* recvfrom()/recvmsg()/recvmmsg() on ours UDP with a source wanted: the datagram and the source
 * as an AF_INET socket gives them (recvmmsg: one datagram a call, as with MSG_WAITFORONE when no
 * more are queued). The error queue's messages are the kernel's. */
static enum served serve_receive(const struct call *c)
{
	bool mmsg = c->nr == SYS_recvmmsg, msg = c->nr == SYS_recvmsg || mmsg;
	struct msghdr h = {0};
	if ((mmsg && !c->args[2]) || (msg && !read_memory(c, &h, c->args[1], sizeof(h))))
		return NOT_OURS;
	int flags = (int)(c->nr == SYS_recvmsg ? c->args[2] : c->args[3]) & ~MSG_WAITFORONE;
	uint64_t name = msg ? (uint64_t)(uintptr_t)h.msg_name : c->args[4];
	if (!name || (flags & MSG_ERRQUEUE) || (msg && (int)h.msg_namelen < 0))
		return NOT_OURS;
	enum mark mark;
	int copy = our_socket(c, (int)c->args[0], true, &mark);
	if (copy < 0)
		return NOT_OURS;
	if (socket_type(copy) != SOCK_DGRAM) {
		close(copy);
		return NOT_OURS;
	}
	struct receiving *r = calloc(1, sizeof(*r));
	if (!r) {
		close(copy);
		return NOT_OURS;
	}
	*r = (struct receiving){.call = *c, .copy = copy, .mark = mark, .flags = flags, .name = name};
	int error = 0;
	if (msg) {
		r->to = read_iovecs(c, (uint64_t)(uintptr_t)h.msg_iov, h.msg_iovlen, &r->room, &error);
		r->count = h.msg_iovlen;
		r->name_len = c->args[1] + offsetof(struct msghdr, msg_namelen);
		r->msg = c->args[1];
		r->len_at = mmsg ? c->args[1] + offsetof(struct mmsghdr, msg_len) : 0;
		r->control = (uint64_t)(uintptr_t)h.msg_control;
		r->control_len = h.msg_controllen < (1u << 16) ? h.msg_controllen : 1u << 16;
	} else if ((r->to = calloc(1, sizeof(*r->to)))) {
		*r->to = (struct iovec){(void *)(uintptr_t)c->args[1], c->args[2]};
		r->count = 1;
		r->room = c->args[2];
		r->name_len = c->args[5];
	}
	enum { DATAGRAM_MAX = 65535 }; /* a UDP length's bound: more room is never used */
	if (r->room > DATAGRAM_MAX)
		r->room = DATAGRAM_MAX;
	bool waits = blocking(copy) && !(flags & MSG_DONTWAIT);
	r->timed = waits && timeout_end(copy, SO_RCVTIMEO, &r->end);
	int64_t result;
	if (!r->to)
		result = error ? error : -ENOBUFS;
	else if (waits && wait_take_over(c, copy, false, SO_RCVTIMEO) == INTERRUPTED)
		result = -EINTR;
	else
		result = receive_now(r);
	if (result == -EAGAIN && waits && run_on_worker(receive_blocking, r))
		return ANSWERED;
	if (result != HANDED_ON)
		answer(c, result);
	receiving_free(r);
	return ANSWERED;
}

/* getpeername/getsockname(ours): the AF_INET name the program expects, with the kernel's length
 * rules (truncated to the buffer, the full length told). */
static enum served serve_name(const struct call *c)
{
	bool peer = c->nr == SYS_getpeername;
	enum mark mark;
	int copy = our_socket(c, (int)c->args[0], peer, &mark);
	if (copy < 0)
		return NOT_OURS;
	struct sockaddr_in6 real;
	socklen_t real_len = sizeof(real);
	int got = peer ? getpeername(copy, (struct sockaddr *)&real, &real_len)
		       : getsockname(copy, (struct sockaddr *)&real, &real_len);
	close(copy);
	if (got != 0) {
		answer(c, -errno);
		return ANSWERED;
	}
	union name_view view;
	socklen_t view_len = view_of(c->cfg, mark, &real, &view);
	answer(c, write_name(c, c->args[1], c->args[2], &view, view_len));
	return ANSWERED;
}

/* getsockopt(ours, SOL_SOCKET, SO_DOMAIN): AF_INET, as the socket the program asked for says. */
static enum served serve_domain(const struct call *c)
{
	int copy = swapped_socket(c, (int)c->args[0]);
	if (copy < 0)
		return NOT_OURS;
	close(copy);
	int len, domain = AF_INET;
	if (!read_memory(c, &len, c->args[4], sizeof(len)))
		return NOT_OURS; /* a bad pointer: the kernel says EFAULT */
	if (len < 0) {
		answer(c, -EINVAL);
		return ANSWERED;
	}
	socklen_t n = (size_t)len < sizeof(domain) ? (socklen_t)len : sizeof(domain);
	answer(c, write_memory(c, c->args[3], &domain, n) && write_memory(c, c->args[4], &n, sizeof(n)) ? 0 : -EFAULT);
	return ANSWERED;
}

static void serve(const struct call *c)
{
	enum served served = NOT_OURS;
	switch (c->nr) {
	case SYS_socket:
		served = serve_socket(c);
		break;
	case SYS_connect:
		served = serve_connect(c);
		break;
	case SYS_sendto:
	case SYS_sendmsg:
		served = serve_send(c);
		break;
	case SYS_sendmmsg:
		served = serve_sendmmsg(c);
		break;
	case SYS_recvfrom:
	case SYS_recvmsg:
	case SYS_recvmmsg:
		served = serve_receive(c);
		break;
	case SYS_getpeername:
	case SYS_getsockname:
		served = serve_name(c);
		break;
	case SYS_getsockopt:
		served = serve_domain(c);
		break;
	case SYS_bind:
		served = serve_bind(c);
		break;
	}
	if (served == NOT_OURS) {
		struct seccomp_notif_resp go_on = {.id = c->id, .flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE};
		ioctl(c->listener, SECCOMP_IOCTL_NOTIF_SEND, &go_on);
	}
}

static pid_t child_pid;

static void forward(int sig)
{
	if (child_pid > 0)
		kill(child_pid, sig);
}

int supervise(char **command, const struct config *cfg)
{
	screen_build(cfg);
	int pair[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
		perror("tnat64: socketpair");
		return 1;
	}
	child_pid = fork();
	if (child_pid < 0) {
		perror("tnat64: fork");
		return 1;
	}
	if (child_pid == 0) {
		close(pair[0]);
		/* Without its supervisor the program's socket calls would fail (ENOSYS): it ends with it. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		int listener = install_filter();
		if (listener < 0) {
			fprintf(stderr,
				"tnat64: --supervise: the kernel refuses seccomp user notification (%s): it needs Linux "
				"5.14+ with CONFIG_SECCOMP_FILTER\n",
				strerror(errno));
			_exit(2);
		}
		/* The supervisor takes the listener itself (pidfd_getfd), which tells at once whether the
		 * kernel lets it take the program's sockets; sendmsg would wait on the filter. */
		char go;
		if (write(pair[1], &listener, sizeof(listener)) != sizeof(listener) || read(pair[1], &go, 1) != 1)
			_exit(1); /* the supervisor refused, and said why */
		close(listener);
		close(pair[1]);
		execvp(command[0], command);
		int error = errno;
		fprintf(stderr, "tnat64: %s: %s\n", command[0], error == ENOENT ? "command not found" : strerror(error));
		_exit(error == ENOENT ? 127 : 126);
	}
	close(pair[1]);
	int listener = -1, number, pidfd = (int)syscall(SYS_pidfd_open, child_pid, 0);
	if (pidfd >= 0 && read(pair[0], &number, sizeof(number)) == sizeof(number))
		listener = (int)syscall(SYS_pidfd_getfd, pidfd, number, 0);
	if (listener < 0 && errno == EPERM) {
		fprintf(stderr, "tnat64: the kernel does not let the supervisor take the program's sockets "
				"(pidfd_getfd: EPERM): with Yama, kernel.yama.ptrace_scope must be 0 or 1 (2 with "
				"CAP_SYS_PTRACE); or serve the program in kernel mode (tnat64 attach, as root)\n");
		kill(child_pid, SIGKILL);
		waitpid(child_pid, NULL, 0);
		return 2;
	}
	if (pidfd >= 0)
		close(pidfd);
	if (listener >= 0 && write(pair[0], "", 1) != 1)
		perror("tnat64: supervisor");
	close(pair[0]);
	/* The terminal's signals reach the program itself; these are passed on. */
	struct sigaction pass = {.sa_handler = forward, .sa_flags = SA_RESTART};
	static const int passed[] = {SIGTERM, SIGHUP, SIGUSR1, SIGUSR2};
	for (size_t i = 0; i < sizeof(passed) / sizeof(passed[0]); i++)
		sigaction(passed[i], &pass, NULL);
	signal(SIGINT, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);
	/* SIGALRM is the supervisor's own: its timer ends a blocking connect's first wait (no
	 * SA_RESTART, so the connect returns EINTR; connect_near). */
	struct sigaction interrupt = {.sa_handler = no_restart};
	sigaction(SIGALRM, &interrupt, NULL);

	if (listener >= 0) {
		struct seccomp_notif_sizes sizes = {0};
		if (sys_seccomp(SECCOMP_GET_NOTIF_SIZES, 0, &sizes) != 0)
			perror("tnat64: seccomp");
		/* The kernel's notification may be larger than this header knows, never smaller. */
		size_t size = sizes.seccomp_notif > sizeof(struct seccomp_notif) ? sizes.seccomp_notif
										     : sizeof(struct seccomp_notif);
		struct seccomp_notif *req = calloc(1, size);
		/* Until every process of the program's tree has ended: then the listener hangs up. */
		for (struct pollfd p = {.fd = listener, .events = POLLIN}; req;) {
			if (poll(&p, 1, -1) < 0) {
				if (errno == EINTR)
					continue;
				break;
			}
			if (p.revents & POLLIN) {
				memset(req, 0, size);
				if (ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, req) != 0)
					continue;
				struct call c = {.listener = listener, .cfg = cfg, .id = req->id, .pid = (pid_t)req->pid,
						 .nr = req->data.nr};
				memcpy(c.args, req->data.args, sizeof(c.args));
				serve(&c);
			} else if (p.revents & (POLLHUP | POLLERR)) {
				break;
			}
		}
		free(req);
		close(listener);
	}
	int status;
	while (waitpid(child_pid, &status, 0) < 0)
		if (errno != EINTR)
			return 1;
	if (WIFSIGNALED(status)) {
		signal(WTERMSIG(status), SIG_DFL);
		kill(getpid(), WTERMSIG(status));
		return 128 + WTERMSIG(status);
	}
	return WEXITSTATUS(status);
}
