/* Control messages of a swapped socket, as an AF_INET socket has them. */
#include "tnat64.h"

void control_prepare(uint64_t word, const struct msghdr *program, struct msghdr *kernel, struct control_room *room)
{
	(void)word;
	(void)program;
	(void)kernel;
	(void)room;
}

void control_finish(uint64_t word, const struct msghdr *kernel, struct msghdr *program)
{
	(void)word;
	program->msg_controllen = kernel->msg_controllen;
}
