# vsk - AF_VSOCK toolkit.  GNU make.
#
# Sources are picked up by wildcard so each module/command is one file:
#   lib/*/*.c      -> libvsk.a, libvsk.so (public header lib/vsk.h)
#   src/*.c        -> vsk (src/main.c holds the command table)
#   tests/unit/test_*.c -> one cmocka binary each, linked with libvsk.a

VERSION     := 0.1.0
SOVERSION   := 1
PREFIX      ?= /usr/local
BINDIR      ?= $(PREFIX)/bin
LIBDIR      ?= $(PREFIX)/lib
INCLUDEDIR  ?= $(PREFIX)/include
MANDIR      ?= $(PREFIX)/share/man
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR  ?= $(PREFIX)/share/zsh/vendor-completions
DESTDIR     ?=

CC          ?= cc
WERROR      ?=
CFLAGS      ?= -O2 -g
override CFLAGS += -std=c11 -Wall -Wextra -Wshadow -Wno-unused-parameter $(WERROR)
# lib/ is libvsk in one folder per part (core, dump, relay, bench, vhost,
# device: docs/ARCHITECTURE.md); every part's headers are on the path.
LIB_DIRS    := $(patsubst %/,%,$(sort $(dir $(wildcard lib/*/*.c))))
CPPFLAGS    += -D_GNU_SOURCE -Ilib $(addprefix -I,$(LIB_DIRS)) -DVSK_VERSION='"$(VERSION)"'
PCAP_CFLAGS := $(shell pkg-config --cflags libpcap 2>/dev/null)
PCAP_LIBS   := $(shell pkg-config --libs libpcap 2>/dev/null || echo -lpcap)
CMOCKA_LIBS := $(shell pkg-config --libs cmocka 2>/dev/null || echo -lcmocka)
LDLIBS_VSK  := $(PCAP_LIBS) -lz

B           ?= build
# Where the static library and the binary go; the sanitizer build moves
# them under its own build dir so both builds can coexist.
LIBA        ?= libvsk.a
VSKBIN      ?= vsk
SAN_FLAGS   := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
TSAN_FLAGS  := -O1 -g -fsanitize=thread -fno-omit-frame-pointer -Wno-tsan
# The unit tests that run the device's worker threads (make tsan).
TSAN_TESTS  := $(patsubst tests/unit/%.c,build-tsan/tests/%,$(wildcard tests/unit/test_device_threads.c))
LIB_SRCS    := $(sort $(wildcard lib/*.c lib/*/*.c))
CLI_SRCS    := $(sort $(wildcard src/*.c))
UNIT_SRCS   := $(sort $(wildcard tests/unit/test_*.c))
UNIT_HELP   := $(sort $(wildcard tests/unit/helper_*.c))

LIB_OBJS    := $(LIB_SRCS:%.c=$(B)/%.o)
PIC_OBJS    := $(LIB_SRCS:%.c=$(B)/pic/%.o)
CLI_OBJS    := $(CLI_SRCS:%.c=$(B)/%.o)
UNIT_BINS   := $(UNIT_SRCS:tests/unit/%.c=$(B)/tests/%)
UNIT_HOBJS  := $(UNIT_HELP:%.c=$(B)/%.o)

all: vsk libvsk.a libvsk.so vsk.pc

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(PCAP_CFLAGS) $(CFLAGS) -MMD -MP -c -o $@ $<

$(B)/pic/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(PCAP_CFLAGS) $(CFLAGS) -fPIC -MMD -MP -c -o $@ $<

$(LIBA): $(LIB_OBJS)
	rm -f $@
	$(AR) rcs $@ $^

libvsk.so: libvsk.so.$(SOVERSION)
	ln -sf $< $@

libvsk.so.$(SOVERSION): $(PIC_OBJS) lib/libvsk.map
	$(CC) -shared -Wl,-soname,libvsk.so.$(SOVERSION) -Wl,--version-script=lib/libvsk.map \
		$(LDFLAGS) -o $@ $(PIC_OBJS) $(LDLIBS_VSK)

$(VSKBIN): $(CLI_OBJS) $(LIBA)
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJS) $(LIBA) $(LDLIBS_VSK)

PC_SED      = sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
	    -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(VERSION)|'
vsk.pc: lib/vsk.pc.in Makefile
	$(PC_SED) $< > $@

# examples/*.c: small programs on libvsk (the receiver and sender of the
# seed), built into $(B)/examples/.
EXAMPLES    := $(patsubst examples/%.c,$(B)/examples/%,$(wildcard examples/*.c))
examples: $(EXAMPLES)
$(B)/examples/%: examples/%.c $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIBA) $(LDLIBS_VSK)

# Every man page through groff's (and man-db's) warnings.
check-man:
	@tests/eco/run man

$(B)/tests/%: tests/unit/%.c $(LIBA) $(UNIT_HOBJS)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(PCAP_CFLAGS) -Itests/unit -Isrc $(CFLAGS) $(LDFLAGS) -o $@ $< $(filter $(B)/src/%.o,$^) $(UNIT_HOBJS) $(LIBA) $(CMOCKA_LIBS) $(LDLIBS_VSK) -lpthread

# Unit tests of CLI code link the src/ object they test (and stub the rest).
$(B)/tests/test_cli_num: $(B)/src/cli_num.o

unit: $(UNIT_BINS)

# The same library, CLI and unit tests under AddressSanitizer and UBSan, in
# build-asan/ (tests/run-all runs them as the "asan" suite).
asan:
	$(MAKE) B=build-asan LIBA=build-asan/libvsk.a VSKBIN=build-asan/vsk \
		CFLAGS="$(SAN_FLAGS)" LDFLAGS="-fsanitize=address,undefined" \
		build-asan/vsk build-asan/libvsk.a unit

# The threaded unit tests under ThreadSanitizer, in build-tsan/ (tests/run-all
# runs them as the "tsan" suite).
tsan:
	$(MAKE) B=build-tsan LIBA=build-tsan/libvsk.a VSKBIN=build-tsan/vsk \
		CFLAGS="$(TSAN_FLAGS)" LDFLAGS="-fsanitize=thread" $(TSAN_TESTS)

deps:
	@scripts/deps

# check: install what is missing, build, run unit tests and the lab, and
# print one "N passed, N failed" line for everything that ran.
check: deps
	$(MAKE) all unit
	$(MAKE) asan WERROR=$(WERROR)
	$(MAKE) tsan WERROR=$(WERROR)
	@tests/run-all

demo: deps
	$(MAKE) all
	@tests/lab/device_demo

# The seed's receiver and sender over vsock loopback inside one guest.
demo-loopback: deps
	$(MAKE) all
	@tests/lab/demo

# bench: every script in bench/ (figures and ratios; see bench/README.md).
bench: all
	@bench/run

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) \
		$(DESTDIR)$(PKGCONFIGDIR) $(DESTDIR)$(MANDIR)/man1
	install -m 755 vsk $(DESTDIR)$(BINDIR)/vsk
	install -m 644 libvsk.a $(DESTDIR)$(LIBDIR)/libvsk.a
	install -m 755 libvsk.so.$(SOVERSION) $(DESTDIR)$(LIBDIR)/libvsk.so.$(SOVERSION)
	ln -sf libvsk.so.$(SOVERSION) $(DESTDIR)$(LIBDIR)/libvsk.so
	install -m 644 lib/vsk.h $(DESTDIR)$(INCLUDEDIR)/vsk.h
	$(PC_SED) lib/vsk.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/vsk.pc
	install -m 644 man/*.1 $(DESTDIR)$(MANDIR)/man1/
	install -d $(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(ZSHCOMPDIR)
	install -m 644 contrib/completion/vsk.bash $(DESTDIR)$(BASHCOMPDIR)/vsk
	install -m 644 contrib/completion/_vsk $(DESTDIR)$(ZSHCOMPDIR)/_vsk

clean:
	rm -rf $(B) build-asan build-tsan vsk libvsk.a libvsk.so libvsk.so.$(SOVERSION) vsk.pc

.PHONY: all unit asan tsan deps check demo demo-loopback bench install clean examples check-man
-include $(shell find $(B) -name '*.d' 2>/dev/null)
