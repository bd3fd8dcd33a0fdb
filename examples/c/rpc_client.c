/* ErlDP from C: join a BEAM node and call functions on it.
 *
 *   cc rpc_client.c $(pkg-config --cflags --libs erldp) -o rpc_client
 *   ./rpc_client peer@host COOKIE
 */
#define _POSIX_C_SOURCE 200809L /* getpid */
#include <erldp.h>

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static erldp_node *node;

/* Prints what went wrong and ends the program. */
static void check(erldp_status status, const char *what) {
    if (status != ERLDP_OK) {
        fprintf(stderr, "c: %s failed: %s: %s\n", what, erldp_status_name(status), erldp_last_error());
        erldp_node_close(node);
        exit(1);
    }
}

/* rpc MODULE:FUNCTION(ARGS), ARGS in Erlang syntax; prints the result or the error. */
static void rpc(const char *peer, const char *module, const char *function, const char *args) {
    char list[256];
    snprintf(list, sizeof list, "[%s]", args);
    erldp_buf *arg_list = NULL, *result = NULL;
    check(erldp_term_parse(list, &arg_list), "parsing the arguments");
    erldp_status status = erldp_rpc(node, peer, module, function, erldp_buf_data(arg_list),
                                    erldp_buf_len(arg_list), 5000, &result);
    erldp_buf_free(arg_list);
    if (status == ERLDP_ERR_RPC) {
        /* The remote exception, as the term {Class, Reason, Stacktrace}. */
        erldp_buf *error = NULL;
        char *text = NULL;
        check(erldp_last_error_term(&error), "getting the remote error");
        check(erldp_term_format(erldp_buf_data(error), erldp_buf_len(error), &text), "formatting");
        printf("c: rpc %s:%s(%s) raised %s\n", module, function, args, text);
        erldp_string_free(text);
        erldp_buf_free(error);
        return;
    }
    check(status, "rpc");
    char *text = NULL;
    check(erldp_term_format(erldp_buf_data(result), erldp_buf_len(result), &text), "formatting");
    printf("c: rpc %s:%s(%s) -> %s\n", module, function, args, text);
    erldp_string_free(text);
    erldp_buf_free(result);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s PEER_NODE COOKIE\n", argv[0]);
        return 2;
    }
    const char *peer = argv[1], *cookie = argv[2];

    /* c_client_<pid>@<short host name>: unique, so that several clients can run at once. */
    char name[64];
    snprintf(name, sizeof name, "c_client_%ld", (long)getpid());
    check(erldp_node_start(name, cookie, NULL, &node), "starting the node");
    printf("c: started %s (libErlDP %s)\n", erldp_node_name(node), erldp_version());

    bool pong = false;
    check(erldp_ping(node, peer, &pong), "ping");
    printf("c: ping %s -> %s\n", peer, pong ? "pong" : "pang");

    rpc(peer, "erlang", "system_info", "otp_release");
    rpc(peer, "lists", "sum", "[1,2,3]");
    rpc(peer, "erlang", "binary_to_atom", "42");

    erldp_node_close(node);
    printf("c: closed\n");
    return 0;
}
