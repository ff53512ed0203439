/* guest_sender: what `vsk send` does by default, on libvsk.
 *
 * Connect to vsock:2:4050 (or the address given), send one message, close.
 * A failed connect is explained by vsk_explain() with the step that failed.
 *
 *   cc guest_sender.c $(pkg-config --cflags --libs vsk) -o guest_sender
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <vsk.h>

int main(int argc, char **argv)
{
	const char *text = argc > 1 ? argv[1] : "vsock:2:4050";
	const char *data = argc > 2 ? argv[2] : "Hello, Host! This is a message from the VM.";
	const char *op = "connect";
	char msg[512];
	struct vsk_addr a;
	ssize_t n;
	int fd;

	if (argc > 3 || (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")))) {
		fprintf(argc > 3 ? stderr : stdout, "usage: guest_sender [ADDR [MESSAGE]]  (default vsock:2:4050)\n");
		return argc > 3 ? 2 : 0;
	}
	if (vsk_addr_parse(text, &a, msg, sizeof(msg)) < 0) {
		fprintf(stderr, "guest_sender: %s\n", msg);
		return 2;
	}
	fd = vsk_connect(&a, NULL, &op);
	if (fd < 0) {
		fprintf(stderr, "guest_sender: %s\n", vsk_explain(-fd, op, &a, msg, sizeof(msg)));
		return 1;
	}
	printf("Connected to %s\n", vsk_addr_format(&a, msg, sizeof(msg)));
	n = write(fd, data, strlen(data)); /* one small write: no short-write loop needed */
	close(fd);
	if (n != (ssize_t)strlen(data)) {
		perror("guest_sender: write");
		return 1;
	}
	printf("Sent message: %s\n", data);
	return 0;
}
