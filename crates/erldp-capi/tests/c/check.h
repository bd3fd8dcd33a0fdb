/* What the C test programs share: the checks, starting a uniquely named node, and running a
 * table of tests. Each program includes it once, after <erldp.h>. */

#ifndef ERLDP_TEST_CHECK_H
#define ERLDP_TEST_CHECK_H

#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Generous: only reached when something is wrong, and valgrind makes everything slow. */
#define WAIT_MS 30000

static int failed_checks;

#define CHECK(cond)                                                                        \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            failed_checks++;                                                               \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);      \
        }                                                                                  \
    } while (0)

/* Checks the status of a call; on a mismatch prints the library's last error. */
#define EXPECT(status, call)                                                               \
    do {                                                                                   \
        erldp_status got_ = (call);                                                        \
        if (got_ != (status)) {                                                            \
            failed_checks++;                                                               \
            fprintf(stderr, "%s:%d: %s returned %s, expected %s (last error: %s)\n",       \
                    __FILE__, __LINE__, #call, erldp_status_name((int)got_),               \
                    erldp_status_name((int)(status)), erldp_last_error());                 \
        }                                                                                  \
    } while (0)

#define OK(call) EXPECT(ERLDP_OK, call)

/* Checks that the last error names what it is about. */
#define LAST_ERROR_MENTIONS(text)                                                          \
    do {                                                                                   \
        if (strstr(erldp_last_error(), (text)) == NULL) {                                  \
            failed_checks++;                                                               \
            fprintf(stderr, "%s:%d: last error \"%s\" does not mention \"%s\"\n",           \
                    __FILE__, __LINE__, erldp_last_error(), (text));                       \
        }                                                                                  \
    } while (0)

/* Starts a node named PREFIX_<pid>_<n>, a name no other test run on the machine takes;
 * `options` NULL for the defaults. NULL (and a failed check) when it cannot start. */
static erldp_node *start_named_node(const char *prefix, const char *with_cookie,
                                    const erldp_node_options *options) {
    static int counter;
    char name[64];
    snprintf(name, sizeof name, "%s_%ld_%d", prefix, (long)getpid(), ++counter);
    erldp_node *node = NULL;
    OK(erldp_node_start(name, with_cookie, options, &node));
    return node;
}

struct test {
    const char *name;
    void (*run)(void);
};

/* Runs the tests in order, printing one line per test, then "N passed, N failed"; the
 * program's exit status: 0 when every check passed. */
static int run_tests(const struct test *tests, size_t count) {
    int passed = 0, failed = 0;
    for (size_t i = 0; i < count; i++) {
        int before = failed_checks;
        tests[i].run();
        if (failed_checks == before) {
            passed++;
            printf("ok - %s\n", tests[i].name);
        } else {
            failed++;
            printf("not ok - %s\n", tests[i].name);
        }
        fflush(stdout);
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}

#endif
