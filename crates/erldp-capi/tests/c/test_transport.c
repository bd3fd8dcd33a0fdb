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

#include "check.h"

static const char *tls_peer;
static const char *inet6_peer;
static const char *cookie;
static const char *dir;

/* DIR/name, in one of a few static buffers. */
static const char *path(const char *name) {
    static char buffers[6][512];
    static int next;
    char *buffer = buffers[next++ % 6];
    snprintf(buffer, sizeof buffers[0], "%s/%s", dir, name);
    return buffer;
}

static erldp_node *start(const erldp_node_options *options) {
    /* Under valgrind a TLS handshake takes many times the default 7 s setup time. */
    erldp_node_options slow = *options;
    slow.setup_timeout_ms = WAIT_MS;
    return start_named_node("c_transport", cookie, &slow);
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

/* A node started with `options` reaches `peer`. */
static void check_reaches(const erldp_node_options *options, const char *peer) {
    erldp_node *node = start(options);
    check_rpc(node, peer);
    erldp_node_close(node);
}

/* The defaults, with TLS: DIR/node.pem and node.key presented, peers checked against
 * DIR/`cacertfile`. */
static erldp_node_options tls_options(const char *cacertfile) {
    erldp_node_options options;
    OK(erldp_node_options_init(&options));
    options.tls_certfile = path("node.pem");
    options.tls_keyfile = path("node.key");
    options.tls_cacertfile = path(cacertfile);
    return options;
}

static void test_tls(void) {
    erldp_node_options options = tls_options("ca.pem");
    check_reaches(&options, tls_peer);
}

static void test_tls_optfile(void) {
    erldp_node_options options;
    OK(erldp_node_options_init(&options));
    options.tls_optfile = path("opt.conf");
    check_reaches(&options, tls_peer);
}

/* A CA that did not sign the peer's certificate: the error names the cause. */
static void test_tls_refused(void) {
    erldp_node_options options = tls_options("other_ca.pem");
    erldp_node *node = start(&options);
    if (node == NULL) return;
    EXPECT(ERLDP_ERR_CONNECT, erldp_connect(node, tls_peer));
    LAST_ERROR_MENTIONS("not signed by a CA in our cacertfile");
    erldp_node_close(node);
    /* verify_none takes it. */
    options.tls_verify = ERLDP_VERIFY_NONE;
    check_reaches(&options, tls_peer);
}

static void test_tls_bad_options(void) {
    erldp_node_options options = tls_options("ca.pem");
    erldp_node *node = NULL;
    options.tls_keyfile = path("client.key");
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
    static const struct test tests[] = {
        {"defaults", test_defaults},
        {"tls", test_tls},
        {"tls_optfile", test_tls_optfile},
        {"tls_refused", test_tls_refused},
        {"tls_bad_options", test_tls_bad_options},
        {"ipv6", test_ipv6},
    };
    return run_tests(tests, sizeof tests / sizeof *tests);
}
