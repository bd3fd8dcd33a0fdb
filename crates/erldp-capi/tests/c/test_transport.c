/* TLS and IPv6 through the C node options, against real BEAM nodes.
 *
 *   test_transport TLS_PEER INET6_PEER COOKIE DIR
 *
 * TLS_PEER runs with -proto_dist inet_tls and verifies and presents DIR/node.pem in both
 * roles; INET6_PEER runs with -proto_dist inet6_tcp; both have COOKIE. DIR holds the test kit's
 * certificates (crates/erldp-capi/tests/c_api.rs starts the peers and makes them) and
 * DIR/opt.conf, an -ssl_dist_optfile with the same options as TLS_PEER's.
 * Prints one line per check that fails and per test, then "N passed, N failed". */

#define _GNU_SOURCE
#include <erldp.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define WAIT_MS 30000

static const char *tls_peer;
static const char *inet6_peer;
static const char *cookie;
static const char *dir;
static int failed_checks;

#define CHECK(cond)                                                                        \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            failed_checks++;                                                               \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);      \
        }                                                                                  \
    } while (0)

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

#define LAST_ERROR_MENTIONS(text)                                                          \
    do {                                                                                   \
        if (strstr(erldp_last_error(), (text)) == NULL) {                                  \
            failed_checks++;                                                               \
            fprintf(stderr, "%s:%d: last error \"%s\" does not mention \"%s\"\n",           \
                    __FILE__, __LINE__, erldp_last_error(), (text));                       \
        }                                                                                  \
    } while (0)

/* DIR/name, in one of a few static buffers. */
static const char *path(const char *name) {
    static char buffers[6][512];
    static int next;
    char *buffer = buffers[next++ % 6];
    snprintf(buffer, sizeof buffers[0], "%s/%s", dir, name);
    return buffer;
}

static erldp_node *start(const erldp_node_options *options) {
    static int counter;
    char name[64];
    snprintf(name, sizeof name, "c_transport_%ld_%d", (long)getpid(), ++counter);
    /* Under valgrind a TLS handshake takes many times the default 7 s setup time. */
    erldp_node_options slow = *options;
    slow.setup_timeout_ms = WAIT_MS;
    erldp_node *node = NULL;
    OK(erldp_node_start(name, cookie, &slow, &node));
    return node;
}

/* erlang:node() of `peer`, which must be `peer` itself. */
static void check_rpc(erldp_node *node, const char *peer) {
    if (node == NULL) return;
    erldp_buf *args = NULL, *result = NULL;
    OK(erldp_term_parse("[]", &args));
    OK(erldp_rpc(node, peer, "erlang", "node", erldp_buf_data(args), erldp_buf_len(args),
                 WAIT_MS, &result));
    char *text = NULL;
    if (result != NULL && erldp_term_format(erldp_buf_data(result), erldp_buf_len(result),
                                            &text) == ERLDP_OK) {
        CHECK(strstr(text, peer) != NULL);
        if (strstr(text, peer) == NULL) fprintf(stderr, "  rpc gave %s\n", text);
    }
    erldp_string_free(text);
    erldp_buf_free(result);
    erldp_buf_free(args);
}

static void test_defaults(void) {
    erldp_node_options options;
    OK(erldp_node_options_init(&options));
    CHECK(!options.ipv6 && options.tls_certfile == NULL && options.tls_keyfile == NULL &&
          options.tls_cacertfile == NULL && options.tls_optfile == NULL &&
          options.tls_verify == ERLDP_VERIFY_PEER);
}

static void test_tls(void) {
    erldp_node_options options;
    OK(erldp_node_options_init(&options));
    options.tls_certfile = path("node.pem");
    options.tls_keyfile = path("node.key");
    options.tls_cacertfile = path("ca.pem");
    erldp_node *node = start(&options);
    check_rpc(node, tls_peer);
    erldp_node_close(node);
}

static void test_tls_optfile(void) {
    erldp_node_options options;
    OK(erldp_node_options_init(&options));
    options.tls_optfile = path("opt.conf");
    erldp_node *node = start(&options);
    check_rpc(node, tls_peer);
    erldp_node_close(node);
}

/* A CA that did not sign the peer's certificate: the error names the cause. */
static void test_tls_refused(void) {
    erldp_node_options options;
    OK(erldp_node_options_init(&options));
    options.tls_certfile = path("node.pem");
    options.tls_keyfile = path("node.key");
    options.tls_cacertfile = path("other_ca.pem");
    erldp_node *node = start(&options);
    if (node == NULL) return;
    EXPECT(ERLDP_ERR_CONNECT, erldp_connect(node, tls_peer));
    LAST_ERROR_MENTIONS("not signed by a CA in our cacertfile");
    erldp_node_close(node);
    /* verify_none takes it. */
    options.tls_verify = ERLDP_VERIFY_NONE;
    node = start(&options);
    check_rpc(node, tls_peer);
    erldp_node_close(node);
}

static void test_tls_bad_options(void) {
    erldp_node_options options;
    OK(erldp_node_options_init(&options));
    erldp_node *node = NULL;
    options.tls_certfile = path("node.pem");
    options.tls_keyfile = path("client.key");
    options.tls_cacertfile = path("ca.pem");
    EXPECT(ERLDP_ERR_ARG, erldp_node_start("c_transport_bad", cookie, &options, &node));
    LAST_ERROR_MENTIONS("the key does not match the certificate");
    options.tls_keyfile = path("node.key");
    options.tls_verify = 7;
    EXPECT(ERLDP_ERR_ARG, erldp_node_start("c_transport_bad", cookie, &options, &node));
    LAST_ERROR_MENTIONS("tls_verify 7");
    options.tls_verify = ERLDP_VERIFY_PEER;
    options.tls_optfile = path("opt.conf");
    EXPECT(ERLDP_ERR_ARG, erldp_node_start("c_transport_bad", cookie, &options, &node));
    LAST_ERROR_MENTIONS("optfile");
    options.tls_certfile = NULL;
    options.tls_optfile = NULL;
    EXPECT(ERLDP_ERR_ARG, erldp_node_start("c_transport_bad", cookie, &options, &node));
    LAST_ERROR_MENTIONS("need tls_certfile");
    CHECK(node == NULL);
}

/* The inet6 peer sees the connection as IPv6 (net_kernel:node_info/1 of our node). */
static void test_ipv6(void) {
    erldp_node_options options;
    OK(erldp_node_options_init(&options));
    options.ipv6 = true;
    erldp_node *node = start(&options);
    if (node == NULL) return;
    check_rpc(node, inet6_peer);
    char text[300];
    snprintf(text, sizeof text, "['%s']", erldp_node_name(node));
    erldp_buf *args = NULL, *result = NULL;
    OK(erldp_term_parse(text, &args));
    OK(erldp_rpc(node, inet6_peer, "net_kernel", "node_info", erldp_buf_data(args),
                 erldp_buf_len(args), WAIT_MS, &result));
    char *info = NULL;
    if (result != NULL)
        OK(erldp_term_format(erldp_buf_data(result), erldp_buf_len(result), &info));
    int over_ipv6 = info != NULL && strstr(info, "{{0,0,0,0,0,0,0,1},") != NULL &&
                    strstr(info, ",tcp,inet6}") != NULL;
    CHECK(over_ipv6);
    if (!over_ipv6 && info != NULL) fprintf(stderr, "  node_info: %s\n", info);
    erldp_string_free(info);
    erldp_buf_free(result);
    erldp_buf_free(args);
    erldp_node_close(node);
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: %s TLS_PEER INET6_PEER COOKIE DIR\n", argv[0]);
        return 2;
    }
    tls_peer = argv[1];
    inet6_peer = argv[2];
    cookie = argv[3];
    dir = argv[4];
    static const struct {
        const char *name;
        void (*run)(void);
    } tests[] = {
        {"defaults", test_defaults},
        {"tls", test_tls},
        {"tls_optfile", test_tls_optfile},
        {"tls_refused", test_tls_refused},
        {"tls_bad_options", test_tls_bad_options},
        {"ipv6", test_ipv6},
    };
    int passed = 0, failed = 0;
    for (size_t i = 0; i < sizeof tests / sizeof *tests; i++) {
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
