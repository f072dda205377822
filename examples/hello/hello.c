/*
 * hello: the first program a new VCH runs.
 *
 * vsphere-rs's own greeting for `docker run hello-world` against vic-appliance.
 * Built static (gcc -static -Os -s) so that the image needs nothing but this one
 * file; scripts/hello-image.sh packs it into a `docker save` tarball.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const lines[] = {
    "",
    "Hello from a vSphere Integrated Containers VCH, run by vsphere-rs!",
    "",
    "Your container got here like this:",
    " 1. The docker client sent its request to vic-appliance, the VCH's",
    "    Docker Engine API endpoint.",
    " 2. vic-appliance asked the port layer for a container on the",
    "    hello-world image, whose layer is a disk in the VCH's image store.",
    " 3. The port layer created a containerVM with a disk that is a child",
    "    of that image disk, and powered it on.",
    " 4. Inside the containerVM, the tether started /hello (this program),",
    "    and its output travels back over the VM's serial connection, through",
    "    vic-appliance, to your terminal.",
    "",
    "Next, load an image of your own with `docker load` and run it the same way.",
    "",
};

/* Extra modes for tests and demos: `/hello exit N` exits with status N after one
 * line on standard error, `/hello sleep N` sleeps N seconds, `/hello cat` copies
 * standard input to standard output. */
static int run_mode(const char *mode, const char *arg)
{
    if (strcmp(mode, "exit") == 0 && arg != NULL) {
        int code = atoi(arg);
        fprintf(stderr, "hello: exiting with status %d\n", code);
        return code;
    }
    if (strcmp(mode, "sleep") == 0 && arg != NULL) {
        printf("hello: sleeping %s seconds\n", arg);
        fflush(stdout);
        sleep((unsigned)atoi(arg));
        return 0;
    }
    if (strcmp(mode, "cat") == 0) {
        int c;
        while ((c = getchar()) != EOF) {
            putchar(c);
            if (c == '\n') {
                fflush(stdout);
            }
        }
        return fflush(stdout) == 0 ? 0 : 1;
    }
    fprintf(stderr, "hello: unknown mode %s (try: exit N, sleep N, cat)\n", mode);
    return 2;
}

int main(int argc, char **argv)
{
    if (argc > 1) {
        return run_mode(argv[1], argc > 2 ? argv[2] : NULL);
    }
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        if (puts(lines[i]) == EOF) {
            return 1;
        }
    }
    return fflush(stdout) == 0 ? 0 : 1;
}
