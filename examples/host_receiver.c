/* host_receiver: what `vsk recv` does by default, on libvsk.
 *
 * Listen on vsock:2:4050 (or the address given), accept one client, print
 * each read as "Received message: ...".  On a machine where CID 2 is not
 * local (a guest), the bind fails and vsk_explain() says why.
 *
 *   cc host_receiver.c $(pkg-config --cflags --libs vsk) -o host_receiver
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <vsk.h>

int main(int argc, char **argv)
{
	const char *text = argc > 1 ? argv[1] : "vsock:2:4050";
	char buf[4096], msg[512], peer[160];
	struct vsk_addr a;
	ssize_t n;
	int lfd, fd;

	if (argc > 2 || (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")))) {
		fprintf(argc > 2 ? stderr : stdout, "usage: host_receiver [ADDR]  (default vsock:2:4050)\n");
		return argc > 2 ? 2 : 0;
	}
	if (vsk_addr_parse(text, &a, msg, sizeof(msg)) < 0) {
		fprintf(stderr, "host_receiver: %s\n", msg);
		return 2;
	}
	lfd = vsk_listen(&a, NULL);
	if (lfd < 0) {
		fprintf(stderr, "host_receiver: %s\n", vsk_explain(-lfd, "bind", &a, msg, sizeof(msg)));
		return 1;
	}
	printf("Listening on %s...\n", vsk_addr_format(&a, msg, sizeof(msg)));
	fflush(stdout);
	fd = vsk_accept(lfd, peer, sizeof(peer), 0);
	if (fd < 0) {
		fprintf(stderr, "host_receiver: %s\n", vsk_explain(-fd, "accept", &a, msg, sizeof(msg)));
		return 1;
	}
	printf("Client connected: %s\n", peer);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		printf("Received message: %.*s\n", (int)n, buf);
	close(fd);
	close(lfd);
	printf("Server closed.\n");
	return n < 0 ? 1 : 0;
}
