/* The seed's guest sender, against the raw socket API only (no libvsk):
 * socket(AF_VSOCK) / connect to CID 2 port 4050 / send one message / close.
 * Built static for the lab guest: device_sender [CID PORT [MESSAGE]]. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

int main(int argc, char **argv)
{
	const char *msg = "Hello, Host! This is a message from the VM.";
	struct sockaddr_vm addr;
	ssize_t n;
	int fd;

	memset(&addr, 0, sizeof(addr));
	addr.svm_family = AF_VSOCK;
	addr.svm_cid = argc > 2 ? (unsigned)strtoul(argv[1], NULL, 10) : 2;
	addr.svm_port = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 4050;
	if (argc > 3)
		msg = argv[3];
	fd = socket(AF_VSOCK, SOCK_STREAM, 0);
	if (fd < 0) {
		perror("socket");
		return 1;
	}
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		fprintf(stderr, "connect to CID %u port %u: %s\n", addr.svm_cid, addr.svm_port, strerror(errno));
		close(fd);
		return 1;
	}
	printf("Connected to host: CID=%u, port=%u\n", addr.svm_cid, addr.svm_port);
	n = send(fd, msg, strlen(msg), 0);
	if (n < 0) {
		perror("send");
		close(fd);
		return 1;
	}
	printf("Sent message to host: %s\n", msg);
	close(fd);
	printf("Connection closed.\n");
	return 0;
}
