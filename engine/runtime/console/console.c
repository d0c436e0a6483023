/*
 * stevedore-console: the terminal of a detached container (`run -dit`) and the client that
 * attaches to it (`attach`). Compiled on first use by engine/runtime/console-helper.ts.
 *
 * Why a C helper: a terminal needs a pseudo-terminal pair and ioctls (TIOCSCTTY, TIOCSWINSZ,
 * raw mode) that Node cannot do without a native module, and no maintained module ships
 * prebuilt binaries in its registry tarball. A hundred lines of C against libc, built with the
 * machine's cc, need nothing downloaded and nothing from npm.
 *
 * Why a pty of our own instead of runc's --console-socket: runc only hands the master over a
 * console socket when it detaches (`create`/`run -d`), and then stops being the container's
 * parent: the monitor would lose `runc run`'s exit status, signal forwarding and clean-up. So
 * `serve` gives `runc run` (foreground) a terminal of its own as stdin/stdout/stderr and
 * controlling terminal; runc then does what it does for `run -it`: makes the container's pty,
 * relays, and follows resizes of its terminal. We keep the master: a resize set on it
 * (TIOCSWINSZ) reaches runc as SIGWINCH, and bytes written to it reach the container.
 *
 *   serve DIR -- COMMAND ARGS...   run COMMAND on a new pty; listen on DIR/console.sock;
 *                                  output to our stdout (the container's log) and to every
 *                                  attached client; exit with COMMAND's status (128+signal)
 *   attach SOCKET                  relay our terminal (raw mode) to a serve socket; exits 0
 *                                  when the container ends, 3 on the detach keys Ctrl-P Ctrl-Q
 *
 * Client to server frames: 'd' len16 bytes (input), 'w' rows16 cols16 (window size); big-endian.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#define MAX_CLIENTS 16
#define DETACHED 3

static int sigpipe_fds[2] = {-1, -1};

static void on_signal(int sig) {
  int saved = errno;
  unsigned char c = (unsigned char)sig;
  if (write(sigpipe_fds[1], &c, 1) < 0) { /* pipe full: a wake-up is pending anyway */ }
  errno = saved;
}

static void die(const char *what) {
  fprintf(stderr, "stevedore-console: %s: %s\n", what, strerror(errno));
  exit(125);
}

static int write_all(int fd, const void *buf, size_t len) {
  const char *p = buf;
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        struct pollfd w = {fd, POLLOUT, 0};
        poll(&w, 1, 1000);
        continue;
      }
      return -1;
    }
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

/* A unix socket path may be longer than sun_path (108 bytes): bind/connect relative to its directory. */
static void enter_dir_of(const char *path, char *base, size_t size) {
  const char *slash = strrchr(path, '/');
  if (slash) {
    char dir[4096];
    size_t n = (size_t)(slash - path);
    if (n >= sizeof dir) { errno = ENAMETOOLONG; die("socket path"); }
    memcpy(dir, path, n);
    dir[n ? n : 1] = '\0';
    if (n == 0) dir[0] = '/';
    if (chdir(dir) < 0) die(dir);
    path = slash + 1;
  }
  if (strlen(path) >= size) { errno = ENAMETOOLONG; die("socket name"); }
  strcpy(base, path);
}

struct client {
  int fd;
  unsigned char buf[65536 + 3];
  size_t len;
};

static int serve(const char *dir, char **argv) {
  int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0) die("posix_openpt");
  char *slave_name = ptsname(master);
  if (!slave_name) die("ptsname");
  struct winsize ws = {24, 80, 0, 0};
  ioctl(master, TIOCSWINSZ, &ws);

  if (pipe2(sigpipe_fds, O_CLOEXEC | O_NONBLOCK) < 0) die("pipe");
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sa.sa_flags = SA_RESTART;
  sigaction(SIGCHLD, &sa, NULL);
  /* Signals for the container (stop, kill) go through the runtime; ours are passed on to runc. */
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);

  if (chdir(dir) < 0) die(dir);
  unlink("console.sock");
  int listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  strcpy(addr.sun_path, "console.sock");
  mode_t old = umask(0077); /* only root may attach */
  if (listener < 0 || bind(listener, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(listener, 8) < 0) die("console socket");
  umask(old);

  pid_t child = fork();
  if (child < 0) die("fork");
  if (child == 0) {
    setsid();
    int slave = open(slave_name, O_RDWR);
    if (slave < 0) die(slave_name);
    if (ioctl(slave, TIOCSCTTY, 0) < 0) die("TIOCSCTTY");
    dup2(slave, 0);
    dup2(slave, 1);
    dup2(slave, 2);
    if (slave > 2) close(slave);
    signal(SIGPIPE, SIG_DFL);
    execvp(argv[0], argv);
    fprintf(stderr, "stevedore-console: %s: %s\n", argv[0], strerror(errno));
    _exit(127);
  }
  fcntl(master, F_SETFL, O_NONBLOCK);

  struct client clients[MAX_CLIENTS];
  for (int i = 0; i < MAX_CLIENTS; i++) clients[i].fd = -1;
  int status = 0, exited = 0;
  unsigned char buf[65536];

  for (;;) {
    struct pollfd fds[3 + MAX_CLIENTS];
    int n = 0;
    fds[n++] = (struct pollfd){sigpipe_fds[0], POLLIN, 0};
    fds[n++] = (struct pollfd){master, POLLIN, 0};
    fds[n++] = (struct pollfd){listener, POLLIN, 0};
    for (int i = 0; i < MAX_CLIENTS; i++) fds[n++] = (struct pollfd){clients[i].fd, POLLIN, 0};
    /* Once runc has exited, only what is still buffered in the pty is read. */
    if (poll(fds, (nfds_t)n, exited ? 0 : -1) < 0) {
      if (errno == EINTR) continue;
      die("poll");
    }
    if (fds[0].revents & POLLIN) {
      unsigned char sig;
      while (read(sigpipe_fds[0], &sig, 1) == 1) {
        if (sig == SIGCHLD) {
          int st;
          if (waitpid(child, &st, WNOHANG) == child) {
            exited = 1;
            status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
          }
        } else if (!exited) {
          kill(child, sig);
        }
      }
    }
    int got_output = 0;
    if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t r = read(master, buf, sizeof buf);
      if (r > 0) {
        got_output = 1;
        /* The log (our stdout, the monitor's pipe) first; then every attached client. */
        write_all(1, buf, (size_t)r);
        for (int i = 0; i < MAX_CLIENTS; i++)
          if (clients[i].fd >= 0 && write_all(clients[i].fd, buf, (size_t)r) < 0) {
            close(clients[i].fd);
            clients[i].fd = -1;
          }
      }
    }
    if (exited && !got_output) break;
    if (fds[2].revents & POLLIN) {
      int fd = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
      if (fd >= 0) {
        int i = 0;
        while (i < MAX_CLIENTS && clients[i].fd >= 0) i++;
        if (i == MAX_CLIENTS) close(fd);
        else { clients[i].fd = fd; clients[i].len = 0; }
      }
    }
    for (int i = 0; i < MAX_CLIENTS; i++) {
      struct client *c = &clients[i];
      if (c->fd < 0 || !(fds[3 + i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t r = read(c->fd, c->buf + c->len, sizeof c->buf - c->len);
      if (r <= 0) {
        close(c->fd);
        c->fd = -1;
        continue;
      }
      c->len += (size_t)r;
      size_t off = 0;
      for (;;) {
        size_t left = c->len - off;
        unsigned char *f = c->buf + off;
        if (left < 1) break;
        if (f[0] == 'w') {
          if (left < 5) break;
          struct winsize w = {(unsigned short)(f[1] << 8 | f[2]), (unsigned short)(f[3] << 8 | f[4]), 0, 0};
          ioctl(master, TIOCSWINSZ, &w);
          off += 5;
        } else if (f[0] == 'd') {
          if (left < 3) break;
          size_t len = (size_t)(f[1] << 8 | f[2]);
          if (left < 3 + len) break;
          write_all(master, f + 3, len);
          off += 3 + len;
        } else { /* not our protocol */
          close(c->fd);
          c->fd = -1;
          break;
        }
      }
      if (c->fd >= 0) {
        memmove(c->buf, c->buf + off, c->len - off);
        c->len -= off;
      }
    }
  }
  for (int i = 0; i < MAX_CLIENTS; i++)
    if (clients[i].fd >= 0) close(clients[i].fd);
  unlink("console.sock");
  return status;
}

static int send_size(int sock) {
  struct winsize ws;
  if (ioctl(0, TIOCGWINSZ, &ws) < 0) return 0;
  unsigned char f[5] = {'w', ws.ws_row >> 8, ws.ws_row & 0xff, ws.ws_col >> 8, ws.ws_col & 0xff};
  return write_all(sock, f, sizeof f);
}

static struct termios saved_termios;
static int raw_set = 0;

static void restore_terminal(void) {
  if (raw_set) tcsetattr(0, TCSADRAIN, &saved_termios);
}

static int attach(const char *path) {
  char base[sizeof ((struct sockaddr_un *)0)->sun_path];
  enter_dir_of(path, base, sizeof base);
  int sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  strcpy(addr.sun_path, base);
  if (sock < 0 || connect(sock, (struct sockaddr *)&addr, sizeof addr) < 0) die("connect to the container's terminal");
  signal(SIGPIPE, SIG_IGN);

  int tty = isatty(0);
  if (tty) {
    if (tcgetattr(0, &saved_termios) == 0) {
      struct termios raw = saved_termios;
      cfmakeraw(&raw);
      if (tcsetattr(0, TCSADRAIN, &raw) == 0) raw_set = 1;
      atexit(restore_terminal);
    }
    if (pipe2(sigpipe_fds, O_CLOEXEC | O_NONBLOCK) < 0) die("pipe");
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGWINCH, &sa, NULL);
    send_size(sock);
  }

  unsigned char buf[4096 + 3];
  int stdin_open = 1, saw_ctrl_p = 0;
  for (;;) {
    struct pollfd fds[3] = {{sock, POLLIN, 0}, {stdin_open ? 0 : -1, POLLIN, 0}, {sigpipe_fds[0], POLLIN, 0}};
    if (poll(fds, 3, -1) < 0) {
      if (errno == EINTR) continue;
      die("poll");
    }
    if (fds[2].revents & POLLIN) {
      unsigned char sig;
      while (read(sigpipe_fds[0], &sig, 1) == 1) {}
      send_size(sock);
    }
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t r = read(sock, buf, sizeof buf);
      if (r <= 0) return 0; /* the container ended */
      if (write_all(1, buf, (size_t)r) < 0) return 1;
    }
    if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t r = read(0, buf + 3, sizeof buf - 3);
      if (r <= 0) {
        stdin_open = 0;
        continue;
      }
      /* docker's detach keys: Ctrl-P then Ctrl-Q; a Ctrl-P alone is passed on with what follows. */
      size_t out = 0;
      unsigned char *in = buf + 3, data[sizeof buf * 2];
      for (ssize_t i = 0; i < r; i++) {
        if (saw_ctrl_p) {
          saw_ctrl_p = 0;
          if (in[i] == 0x11) {
            if (out) {
              unsigned char h[3] = {'d', out >> 8, out & 0xff};
              write_all(sock, h, 3);
              write_all(sock, data, out);
            }
            restore_terminal();
            raw_set = 0;
            fprintf(stderr, "\r\nread escape sequence\r\n");
            return DETACHED;
          }
          data[out++] = 0x10;
        }
        if (in[i] == 0x10) saw_ctrl_p = 1;
        else data[out++] = in[i];
      }
      if (out) {
        unsigned char h[3] = {'d', out >> 8, out & 0xff};
        if (write_all(sock, h, 3) < 0 || write_all(sock, data, out) < 0) return 0;
      }
    }
  }
}

int main(int argc, char **argv) {
  if (argc >= 5 && strcmp(argv[1], "serve") == 0 && strcmp(argv[3], "--") == 0) return serve(argv[2], argv + 4);
  if (argc == 3 && strcmp(argv[1], "attach") == 0) return attach(argv[2]);
  fprintf(stderr, "usage: stevedore-console serve DIR -- COMMAND ARGS... | attach SOCKET\n");
  return 2;
}
