# eddy-rename: off (this line and everything up to the matching "on" marker are left alone,
# so that running the script over a tree that holds it, or docs/api.md's table, is harmless)
/eddy-rename: o[f]f/,/eddy-rename: o[n]/b
# eddy 0.2 vocabulary rename (rules and the table of renames: docs/api.md).
# Apply to every file of a tree written for 0.1:
#   git ls-files -z | xargs -0 sed -E -i -f scripts/rename-0.2.sed
# Safe to apply twice (every rule maps an old name to a name no rule matches again).
# Only the header that DEFINES a stats struct needs a hand edit afterwards (typedef ... ->
# struct tag, see docs/api.md); every use is rewritten here.

# ---- lifecycle -------------------------------------------------------------------------
# uqueue: close only shut it down (destroy frees): graceful stop is shutdown
s/\beddy_uqueue_close\b/eddy_uqueue_shutdown/g
# caller storage is init/destroy, never fini
s/\beddy_bufreader_fini\b/eddy_bufreader_destroy/g
# eddy_queue lives in caller storage: init/destroy (it was open/close, and close freed)
s/\beddy_queue_open_priority\b/eddy_queue_init_priority/g
s/\beddy_queue_open\b/eddy_queue_init/g
s/\beddy__queue_open\b/eddy__queue_init/g
s/\beddy_queue_close\b/eddy_queue_destroy/g
# graceful stops of servers are shutdown (the object stays valid until closed / serve returns)
s/\beddy_server_stop\b/eddy_server_shutdown/g
s/\beddy_protocol_server_stop\b/eddy_protocol_server_shutdown/g
# half-close has one name: shutdown_write (streams already had it)
s/\beddy_transport_write_eof\b/eddy_transport_shutdown_write/g
# disarming a callback timer is stop (start/stop arm and disarm; cancel is for scopes/tasks)
s/\beddy_timer_cancel\b/eddy_timer_stop/g

# ---- addresses: eddy_X_peer_addr / eddy_X_local_addr ---------------------------------------
s/\beddy_transport_get_peer\b/eddy_transport_peer_addr/g
s/\beddy_udp_remote_addr\b/eddy_udp_peer_addr/g
s/\beddy_serve_peer\b/eddy_serve_peer_addr/g
s/\beddy_listener_addr\b/eddy_listener_local_addr/g

# ---- getters are named for the thing; predicates are is_ ---------------------------------
s/\beddy_transport_get_user\b/eddy_transport_user/g
s/\beddy_current_scope\b/eddy_cancel_scope_current/g
s/\beddy_current\b/eddy_task_current/g
s/\beddy_timer_pending\b/eddy_timer_is_pending/g
s/\beddy_mutex_locked\b/eddy_mutex_is_locked/g
s/\beddy_chan_len\b/eddy_chan_size/g
# try_ forms are try_<verb> everywhere
s/\beddy_mutex_trylock\b/eddy_mutex_try_lock/g
# per-loop settings are eddy_loop_set_Y
s/\beddy_resolver_set\b/eddy_loop_set_resolver/g
s/\beddy_socket_hook_set\b/eddy_loop_set_socket_hook/g
# task-local values: eddy_tls_* belongs to the TLS module
s/\beddy_tls_get\b/eddy_key_get/g
s/\beddy_tls_set\b/eddy_key_set/g

# ---- statistics: eddy_X_stats(x, &out) fills a struct eddy_X_stats --------------------------
# The function takes the name, so the struct is used by its tag (as POSIX stat/struct stat).
s/\beddy_(loop|sem|limiter|protocol_server)_get_stats\b/eddy_\1_stats/g
s/(^|[^[:alnum:]_])(eddy_(loop|sem|limiter|server|protocol_server)_stats)\b/\1struct \2/g
s/\bstruct[[:space:]]+struct[[:space:]]+(eddy_(loop|sem|limiter|server|protocol_server)_stats)\b/struct \1/g
s/\bstruct[[:space:]]+(eddy_(loop|sem|limiter|server|protocol_server)_stats)([[:space:]]*\()/\1\3/g

# ---- options types are named for their function -------------------------------------------
s/\beddy_scope_opts\b/eddy_cancel_scope_opts/g
s/\beddy_listen_opts\b/eddy_tcp_listen_opts/g
s/\beddy_connect_opts\b/eddy_tcp_connect_opts/g

# ---- internal: the backend's teardown is destroy ------------------------------------------
s/\bep_fini\b/ep_destroy/g
s/\(\*fini\)\(/(*destroy)(/g
s/->fini\(/->destroy(/g
s/\.fini[[:space:]]*=/.destroy =/g
s/\bbench_uv_fini\b/bench_uv_destroy/g

# ---- durations (docs/api.md "Durations"): the renames that can be done mechanically --------
# The other changed meanings (.timeout = 0 in scope options, grace/backoff/stagger 0, ...)
# need a look at each use: see the table "Changed meanings in 0.2" in docs/api.md.
# eddy_test_opts.timeout_s (seconds, 0 = default) became .timeout, a duration
s/\.timeout_s[[:space:]]*=[[:space:]]*0\b/.timeout = EDDY_SEC(20)/g
s/\.timeout_s[[:space:]]*=[[:space:]]*([0-9]+)\b/.timeout = EDDY_SEC(\1)/g
# scope options: not given is EDDY_FOREVER now, so the "meant even if 0" flags are gone
s/,[[:space:]]*\.has_(timeout|deadline)[[:space:]]*=[[:space:]]*true\b//g
# eddy-rename: on
