/* The supervisor: tnat64 app for programs that never call libc's socket functions (Go's dialer,
 * static binaries, syscall(SYS_connect)). The program runs under a seccomp filter that hands its
 * AF_INET socket() and every connect(), getpeername(), getsockname() and getsockopt(SO_DOMAIN) to this process (user
 * notification, Linux 5.9+; SECCOMP_ADDFD_FLAG_SEND 5.14+), which does what the preload does, from
 * outside: an AF_INET6 socket in place of the AF_INET one, connected to the NAT64 address, named
 * back as IPv4. Everything else is answered "continue" and done by the kernel as asked.
 *
 * It can do only what the program could do with its own socket: the socket it connects is the
 * program's (a copy of the descriptor, pidfd_getfd), the address read from the program's memory is
 * checked still to belong to a pending call (SECCOMP_IOCTL_NOTIF_ID_VALID), and a program that
 * changes that memory meanwhile changes only where its own socket goes. */
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

/* The supervisor's sockets carry a mark, so no table has to follow the program's close, dup and
 * fork: IPV6_FLOWINFO_SEND as the preload's sockets, and IPV6_RECVHOPOPTS, which TCP never acts
 * on and the preload never sets (no IPv4 option stands for it), so that a socket the preload made
 * in the same program (under --supervise) is told apart and left to it. */

static int sys_seccomp(unsigned op, unsigned flags, void *args)
{
	return (int)syscall(SYS_seccomp, op, flags, args);
}

/* The calls handed over, filtered on their arguments so that the rest never leave the kernel:
 * socket() only for AF_INET TCP (UDP stays AF_INET until sendto, sendmsg and the receiving calls
 * are served too), getsockopt() only for SO_DOMAIN. */
static int install_filter(void)
{
	enum { NOTIFY = 19, ALLOW = 20 }; /* the two returns, by index */
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
		/* 8 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_socket, 0, TO(14, 8)),
		/* 9 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])),
		/* 10 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AF_INET, 0, TO(ALLOW, 10)),
		/* 11 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[1])),
		/* 12 */ BPF_STMT(BPF_ALU | BPF_AND | BPF_K, (uint32_t) ~(SOCK_NONBLOCK | SOCK_CLOEXEC)),
		/* 13 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SOCK_STREAM, TO(NOTIFY, 13), TO(ALLOW, 13)),
		/* 14 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getsockopt, 0, TO(ALLOW, 14)),
		/* 15 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[1])),
		/* 16 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SOL_SOCKET, 0, TO(ALLOW, 16)),
		/* 17 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[2])),
		/* 18 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SO_DOMAIN, TO(NOTIFY, 18), TO(ALLOW, 18)),
		/* 19 */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
		/* 20 */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
#undef TO
	struct sock_fprog prog = {.len = sizeof(code) / sizeof(code[0]), .filter = code};
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		return -1;
	return sys_seccomp(SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
}

static int send_fd(int sock, int fd)
{
	char byte = 0, control[CMSG_SPACE(sizeof(int))] = {0};
	struct iovec iov = {&byte, 1};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof(control)};
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	return sendmsg(sock, &msg, 0) == 1 ? 0 : -1;
}

static int receive_fd(int sock)
{
	char byte, control[CMSG_SPACE(sizeof(int))];
	struct iovec iov = {&byte, 1};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof(control)};
	if (recvmsg(sock, &msg, MSG_CMSG_CLOEXEC) != 1)
		return -1;
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	if (!c || c->cmsg_type != SCM_RIGHTS)
		return -1;
	int fd;
	memcpy(&fd, CMSG_DATA(c), sizeof(int));
	return fd;
}

struct call {
	int listener;
	const struct config *cfg;
	struct seccomp_notif *req;
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

/* The program's copy of a descriptor, when it is one of our sockets; -1 otherwise. */
static int our_socket(const struct call *c, int fd)
{
	int pidfd = thread_pidfd((pid_t)c->req->pid);
	if (pidfd < 0)
		return -1;
	int copy = (int)syscall(SYS_pidfd_getfd, pidfd, fd, 0);
	close(pidfd);
	int domain = 0, flowinfo = 0, hopopts = 0;
	socklen_t dl = sizeof(domain), fl = sizeof(flowinfo), hl = sizeof(hopopts);
	if (copy >= 0 && getsockopt(copy, SOL_SOCKET, SO_DOMAIN, &domain, &dl) == 0 && domain == AF_INET6 &&
	    getsockopt(copy, IPPROTO_IPV6, IPV6_FLOWINFO_SEND, &flowinfo, &fl) == 0 && flowinfo &&
	    getsockopt(copy, IPPROTO_IPV6, IPV6_RECVHOPOPTS, &hopopts, &hl) == 0 && hopopts)
		return copy;
	if (copy >= 0)
		close(copy);
	return -1;
}

static bool read_memory(const struct call *c, void *out, uint64_t address, size_t size)
{
	struct iovec local = {out, size}, remote = {(void *)(uintptr_t)address, size};
	return process_vm_readv((pid_t)c->req->pid, &local, 1, &remote, 1, 0) == (ssize_t)size &&
	       ioctl(c->listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &c->req->id) == 0;
}

static bool write_memory(const struct call *c, uint64_t address, const void *data, size_t size)
{
	struct iovec local = {(void *)data, size}, remote = {(void *)(uintptr_t)address, size};
	return process_vm_writev((pid_t)c->req->pid, &local, 1, &remote, 1, 0) == (ssize_t)size;
}

/* Whether the calling thread lives in the supervisor's network namespace. A socket is made in the
 * namespace of whoever makes it: one made here for a program that left (unshare -n, a sandbox)
 * would reach a network the program cannot, so such a program's sockets stay its own. */
static bool same_network(pid_t tid)
{
	static struct stat ours;
	if (!ours.st_ino && stat("/proc/self/ns/net", &ours) != 0)
		return false;
	char path[64];
	struct stat theirs;
	snprintf(path, sizeof(path), "/proc/%d/ns/net", tid);
	return stat(path, &theirs) == 0 && theirs.st_ino == ours.st_ino && theirs.st_dev == ours.st_dev;
}

/* socket(AF_INET, SOCK_STREAM, ...): an AF_INET6 one installed in its place, the descriptor flags
 * asked for kept, answered in the same step (SECCOMP_ADDFD_FLAG_SEND). */
static bool serve_socket(const struct call *c)
{
	int type = (int)c->req->data.args[1];
	if (!same_network((pid_t)c->req->pid))
		return false;
	int s = socket(AF_INET6, type | SOCK_CLOEXEC, (int)c->req->data.args[2]);
	if (s < 0)
		return false; /* the kernel says why for AF_INET too */
	int off = 0, on = 1;
	if (setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off)) != 0 ||
	    setsockopt(s, IPPROTO_IPV6, IPV6_FLOWINFO_SEND, &on, sizeof(on)) != 0 ||
	    setsockopt(s, IPPROTO_IPV6, IPV6_RECVHOPOPTS, &on, sizeof(on)) != 0) {
		close(s);
		return false;
	}
	struct seccomp_notif_addfd add = {
		.id = c->req->id,
		.flags = SECCOMP_ADDFD_FLAG_SEND,
		.srcfd = (unsigned)s,
		.newfd_flags = (type & SOCK_CLOEXEC) ? O_CLOEXEC : 0,
	};
	int installed = ioctl(c->listener, SECCOMP_IOCTL_NOTIF_ADDFD, &add);
	close(s);
	return installed >= 0 || errno == ENOENT; /* ENOENT: the call is gone (a signal); nothing to answer */
}

/* Options a program may set on a socket before bind(), carried to the socket that replaces it. */
static const struct {
	int level, name;
} carried[] = {
	{SOL_SOCKET, SO_REUSEADDR}, {SOL_SOCKET, SO_REUSEPORT}, {SOL_SOCKET, SO_KEEPALIVE},
	{SOL_SOCKET, SO_RCVBUF},    {SOL_SOCKET, SO_SNDBUF},    {SOL_SOCKET, SO_BROADCAST},
	{IPPROTO_TCP, TCP_NODELAY},
};

/* bind(ours, sockaddr_in): a server, or a client that picks its IPv4 source. Its socket becomes the
 * AF_INET one it asked for again (installed at the same number, SECCOMP_ADDFD_FLAG_SETFD, with its
 * options and flags), and the bind goes on in the kernel: listen, accept and their names are the
 * kernel's own IPv4 ones, and nothing is exposed on IPv6. */
static bool serve_bind(const struct call *c)
{
	int fd = (int)c->req->data.args[0];
	int copy = our_socket(c, fd);
	if (copy < 0)
		return false;
	int flags = fcntl(copy, F_GETFL), type = 0, protocol = 0;
	socklen_t tl = sizeof(type), pl = sizeof(protocol);
	getsockopt(copy, SOL_SOCKET, SO_TYPE, &type, &tl);
	getsockopt(copy, SOL_SOCKET, SO_PROTOCOL, &protocol, &pl);
	int s = socket(AF_INET, type | SOCK_CLOEXEC, protocol);
	if (s >= 0 && flags >= 0)
		fcntl(s, F_SETFL, flags & O_NONBLOCK);
	for (size_t i = 0; s >= 0 && i < sizeof(carried) / sizeof(carried[0]); i++) {
		int value;
		socklen_t len = sizeof(value);
		if (getsockopt(copy, carried[i].level, carried[i].name, &value, &len) == 0)
			setsockopt(s, carried[i].level, carried[i].name, &value, len);
	}
	close(copy);
	if (s < 0)
		return false;
	/* The descriptor's close-on-exec flag is the program's: read it from its fdinfo. */
	char path[64], line[64];
	snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", (int)c->req->pid, fd);
	FILE *info = fopen(path, "re");
	unsigned file_flags = 0;
	while (info && fgets(line, sizeof(line), info))
		sscanf(line, "flags: %o", &file_flags);
	if (info)
		fclose(info);
	struct seccomp_notif_addfd add = {
		.id = c->req->id,
		.flags = SECCOMP_ADDFD_FLAG_SETFD,
		.srcfd = (unsigned)s,
		.newfd = (unsigned)fd,
		.newfd_flags = file_flags & O_CLOEXEC,
	};
	ioctl(c->listener, SECCOMP_IOCTL_NOTIF_ADDFD, &add);
	close(s);
	return false; /* the bind itself goes on, on the socket now at that number */
}

static int connect_to(int fd, const struct sockaddr_in6 *to)
{
	return connect(fd, (const struct sockaddr *)to, sizeof(*to)) == 0 ? 0 : -errno;
}

/* Answers a call with its result: 0, or -errno for the program's errno. */
static void answer(int listener, uint64_t id, int result)
{
	struct seccomp_notif_resp r = {.id = id, .error = result < 0 ? result : 0};
	/* ENOENT: the program's call ended meanwhile (a signal); it will be made again or not at all. */
	ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &r);
}

/* One connect() of the program's, decided: where to, and whether IPv4 is the way. */
struct connecting {
	int listener;
	uint64_t id;
	int copy;
	bool nat64;
	struct sockaddr_in6 to_nat64, to_ipv4;
};

/* Through NAT64, and over IPv4 (mapped) at once when NAT64 has no route; or over IPv4. */
static int connect_way(const struct connecting *w)
{
	if (!w->nat64)
		return connect_to(w->copy, &w->to_ipv4);
	int result = connect_to(w->copy, &w->to_nat64);
	return TNAT64_UNREACHABLE(-result) ? connect_to(w->copy, &w->to_ipv4) : result;
}

/* A blocking connect waits for the handshake, seconds or minutes: it has a thread of its own, so
 * that the program's other calls are served meanwhile. */
static void *connect_blocking(void *arg)
{
	struct connecting *w = arg;
	answer(w->listener, w->id, connect_way(w));
	close(w->copy);
	free(w);
	return NULL;
}

enum served { NOT_OURS, ANSWERED };

/* connect(ours, sockaddr_in): through NAT64 as the rules say, over IPv4 (mapped) otherwise. A
 * non-blocking socket answers at once (EINPROGRESS, as the program's own would); a blocking one
 * from a thread. */
static enum served serve_connect(const struct call *c)
{
	struct sockaddr_in to;
	/* The kernel refuses more than a sockaddr_storage: let it say so. */
	if (c->req->data.args[2] < sizeof(to) || c->req->data.args[2] > sizeof(struct sockaddr_storage))
		return NOT_OURS;
	int copy = our_socket(c, (int)c->req->data.args[0]);
	if (copy < 0)
		return NOT_OURS;
	if (!read_memory(c, &to, c->req->data.args[1], sizeof(to)) || to.sin_family != AF_INET) {
		close(copy);
		return NOT_OURS;
	}
	struct connecting w = {.listener = c->listener, .id = c->req->id, .copy = copy};
	w.to_ipv4 = (struct sockaddr_in6){.sin6_family = AF_INET6, .sin6_port = to.sin_port};
	w.to_ipv4.sin6_addr.s6_addr[10] = w.to_ipv4.sin6_addr.s6_addr[11] = 0xff;
	memcpy(&w.to_ipv4.sin6_addr.s6_addr[12], &to.sin_addr, 4);
	struct rule rule = config_resolve(c->cfg, to.sin_addr);
	w.nat64 = rule.kind == RULE_NAT64;
	w.to_nat64 = w.to_ipv4;
	if (w.nat64)
		nat64_synthesize(rule.prefix, to.sin_addr, &w.to_nat64.sin6_addr);
	int flags = fcntl(copy, F_GETFL);
	if (flags >= 0 && !(flags & O_NONBLOCK)) {
		struct connecting *mine = malloc(sizeof(*mine));
		pthread_t thread;
		pthread_attr_t detached;
		pthread_attr_init(&detached);
		pthread_attr_setdetachstate(&detached, PTHREAD_CREATE_DETACHED);
		if (mine) {
			*mine = w;
			if (pthread_create(&thread, &detached, connect_blocking, mine) == 0) {
				pthread_attr_destroy(&detached);
				return ANSWERED;
			}
			free(mine);
		}
		pthread_attr_destroy(&detached);
	}
	answer(c->listener, c->req->id, connect_way(&w));
	close(copy);
	return ANSWERED;
}

/* getpeername/getsockname(ours): the AF_INET name the program expects, with the kernel's length
 * rules (truncated to the buffer, the full length told). */
static bool serve_name(const struct call *c, bool peer, int *result)
{
	int copy = our_socket(c, (int)c->req->data.args[0]);
	if (copy < 0)
		return false;
	struct sockaddr_in6 real;
	socklen_t real_len = sizeof(real);
	int got = peer ? getpeername(copy, (struct sockaddr *)&real, &real_len)
		       : getsockname(copy, (struct sockaddr *)&real, &real_len);
	close(copy);
	if (got != 0) {
		*result = -errno;
		return true;
	}
	struct sockaddr_in view;
	config_ipv4_view(c->cfg, &real, &view);
	int len;
	if (!read_memory(c, &len, c->req->data.args[2], sizeof(len)))
		return false; /* a bad pointer: the kernel says EFAULT */
	if (len < 0) {
		*result = -EINVAL;
		return true;
	}
	socklen_t full = sizeof(view);
	size_t n = (size_t)len < sizeof(view) ? (size_t)len : sizeof(view);
	if ((n > 0 && !write_memory(c, c->req->data.args[1], &view, n)) ||
	    !write_memory(c, c->req->data.args[2], &full, sizeof(full))) {
		*result = -EFAULT;
		return true;
	}
	*result = 0;
	return true;
}

/* getsockopt(ours, SOL_SOCKET, SO_DOMAIN): AF_INET, as the socket the program asked for says. */
static bool serve_domain(const struct call *c, int *result)
{
	int copy = our_socket(c, (int)c->req->data.args[0]);
	if (copy < 0)
		return false;
	close(copy);
	int len, domain = AF_INET;
	if (!read_memory(c, &len, c->req->data.args[4], sizeof(len)))
		return false; /* a bad pointer: the kernel says EFAULT */
	if (len < 0) {
		*result = -EINVAL;
		return true;
	}
	socklen_t n = (size_t)len < sizeof(domain) ? (socklen_t)len : sizeof(domain);
	*result = write_memory(c, c->req->data.args[3], &domain, n) && write_memory(c, c->req->data.args[4], &n, sizeof(n))
			  ? 0
			  : -EFAULT;
	return true;
}

static void serve(const struct call *c)
{
	int result = 0;
	bool ours;
	switch (c->req->data.nr) {
	case SYS_socket:
		if (serve_socket(c))
			return;
		ours = false;
		break;
	case SYS_connect:
		if (serve_connect(c) == ANSWERED)
			return;
		ours = false;
		break;
	case SYS_getpeername:
	case SYS_getsockname:
		ours = serve_name(c, c->req->data.nr == SYS_getpeername, &result);
		break;
	case SYS_getsockopt:
		ours = serve_domain(c, &result);
		break;
	case SYS_bind:
		ours = serve_bind(c);
		break;
	default:
		ours = false;
	}
	if (ours) {
		answer(c->listener, c->req->id, result);
		return;
	}
	struct seccomp_notif_resp go_on = {.id = c->req->id, .flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE};
	ioctl(c->listener, SECCOMP_IOCTL_NOTIF_SEND, &go_on);
}

static pid_t child_pid;

static void forward(int sig)
{
	if (child_pid > 0)
		kill(child_pid, sig);
}

int supervise(char **command, const struct config *cfg)
{
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
		if (send_fd(pair[1], listener) != 0)
			_exit(1);
		close(listener);
		close(pair[1]);
		execvp(command[0], command);
		int error = errno;
		fprintf(stderr, "tnat64: %s: %s\n", command[0], error == ENOENT ? "command not found" : strerror(error));
		_exit(error == ENOENT ? 127 : 126);
	}
	close(pair[1]);
	int listener = receive_fd(pair[0]);
	close(pair[0]);
	/* The terminal's signals reach the program itself; these are passed on. */
	struct sigaction pass = {.sa_handler = forward, .sa_flags = SA_RESTART};
	static const int passed[] = {SIGTERM, SIGHUP, SIGUSR1, SIGUSR2};
	for (size_t i = 0; i < sizeof(passed) / sizeof(passed[0]); i++)
		sigaction(passed[i], &pass, NULL);
	signal(SIGINT, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);

	if (listener >= 0) {
		struct seccomp_notif_sizes sizes;
		if (sys_seccomp(SECCOMP_GET_NOTIF_SIZES, 0, &sizes) != 0) {
			perror("tnat64: seccomp");
			kill(child_pid, SIGKILL);
		}
		struct call c = {.listener = listener, .cfg = cfg, .req = calloc(1, sizes.seccomp_notif)};
		/* Until every process of the program's tree has ended: then the listener hangs up. */
		for (struct pollfd p = {.fd = listener, .events = POLLIN};;) {
			if (poll(&p, 1, -1) < 0) {
				if (errno == EINTR)
					continue;
				break;
			}
			if (p.revents & POLLIN) {
				memset(c.req, 0, sizes.seccomp_notif);
				if (ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, c.req) == 0)
					serve(&c);
			} else if (p.revents & (POLLHUP | POLLERR)) {
				break;
			}
		}
		free(c.req);
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
