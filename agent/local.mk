# agent/: portolan-agent. The pure core (no I/O) is a library of its own so the unit tests link
# exactly the code the daemon runs.
noinst_LIBRARIES += agent/libagentcore.a
agent_libagentcore_a_SOURCES = \
	agent/warn_list.c agent/warn_list.h \
	agent/metadata.c agent/metadata.h \
	agent/checks.c agent/checks.h \
	agent/services.c agent/services.h \
	agent/registration.c agent/registration.h \
	agent/cleanup.c agent/cleanup.h \
	agent/owners.c agent/owners.h \
	agent/agent_config.c agent/agent_config.h \
	agent/replicate.c agent/replicate.h \
	agent/scaling.c agent/scaling.h
AGENT_CORE_LIBS = agent/libagentcore.a $(PORTOLAN_LIBS)

bin_PROGRAMS += portolan-agent
portolan_agent_SOURCES = \
	agent/main.c \
	agent/agent.c agent/agent.h \
	agent/reconcile.c agent/reconcile.h agent/reconcile_int.h \
	agent/reconcile_view.c \
	agent/ops_api.c agent/ops_api.h agent/ops_api_int.h agent/ops_swarm.c \
	agent/scale_nodes.c agent/scale_nodes.h
if LEAN_AGENT
# --with-lean-curl: static, non-PIE, only glibc shared (see configure.ac and scripts/lean-curl.sh)
portolan_agent_LDADD = agent/libagentcore.a lib/libportolan.a $(LEAN_AGENT_LIBS)
portolan_agent_LDFLAGS = -no-pie
else
portolan_agent_LDADD = $(AGENT_CORE_LIBS)
endif
