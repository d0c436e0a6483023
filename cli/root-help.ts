// What `stevedore --help` and `stevedore --version` print, ready-made, so that cli/main.ts answers
// them without loading commander and the ~60 command declarations. cli/root-help.test.ts checks
// ROOT_HELP against what commander prints for the real program (and rewrites it with
// UPDATE_ROOT_HELP=1): it cannot drift from the commands unnoticed.

export const VERSION = '0.1.0';

export const ROOT_HELP = `Usage: stevedore [options] [command]

OCI container registry, registry client and local container engine

Options:
  -V, --version                            output the version number
  --root <dir>                             engine state directory (default $STEVEDORE_ROOT, else /var/lib/stevedore)
  -h, --help                               display help for command

Commands:
  serve [options]                          run the registry server (default: filesystem storage in ./data, port 5000, no auth)
  pull [options] <reference>               pull an image from a registry into the local store (or, with -o, into a layout or archive)
  push [options] <source> [reference]      push a local image (docker push), or an OCI layout or docker archive, to a registry
  copy [options] <source> <destination>    copy an image between registries and layouts, digests preserved
  tags [options] <repository>              list the tags of a repository
  catalog [options] <registry>             list the repositories of a registry
  inspect [options] <reference>            show a local container or image as JSON; else the manifest (or index) of a registry image, and its config
  digest [options] <reference>             print the digest of an image manifest
  delete [options] <reference>             delete an image manifest (by tag: the tag only, by digest: the manifest)
  images [options]                         list the images in the local store
  rmi [options] <image...>                 remove local images (untag; delete when no name and no container is left)
  tag <source> <target>                    give a local image another name
  save [options] <image...>                write a local image to a docker-archive tarball (docker load reads it)
  load [options]                           load the images of a docker-archive tarball (docker save output) into the local store
  history [options] <image>                show the steps that made an image, newest first
  image                                    manage local images
  system                                   the engine as a whole
  prune [options]                          remove stopped containers, then unnamed images no container uses, and blobs and layers no image needs
  login [options] [registry]               log in to a registry and store the credentials in Docker config.json
  logout [registry]                        remove the stored credentials of a registry
  gc [options]                             apply retention policies and delete unreferenced content (online: the registry may keep serving)
  scrub [options]                          re-hash stored blobs and manifests and report those that no longer match their digest (exit status 1)
  compose [options]                        run several services together from a compose file (compose.yaml, docker-compose.yml)
  build [options] <context>                build an image from a Dockerfile, without a daemon (into the local store, or -o, or --push)
  builder                                  manage the build cache
  quota                                    storage quotas of a registry
  token                                    robot tokens for CI: secrets that work as a password, with their own access (the registry's administrators)
  port <container> [port]                  list a container's published ports
  network                                  manage networks
  volume                                   manage volumes (data that outlives containers)
  run [options] <image> [command...]       run a command in a new container
  create [options] <image> [command...]    create a container without starting it (start it with start)
  commit [options] <container> [name]      make an image of a container's changes: its upper directory as a new layer on its image
  import [options] <file> [name]           make a one-layer image of a root filesystem tar (FILE, or - for stdin; plain or gzip)
  ps [options]                             list containers (running ones unless -a)
  logs [options] <container>               print the output of a container (stdout and stderr each to its own)
  start [options] [container...]           start containers that are not running (their changes kept); -a: in the foreground
  restart [options] <container...>         stop (like stop) and start containers again
  wait [options] <container...>            wait until containers stop; print their exit statuses
  pause <container...>                     freeze every process of containers
  unpause <container...>                   thaw paused containers
  cp <source> <destination>                copy files between a container and the host: cp C:PATH DEST | cp SRC C:PATH (DEST "-": a tar on stdout)
  export [options] <container>             write a container's root filesystem as a tar (to stdout, or -o FILE)
  stats [options] [container...]           CPU, memory, block I/O and processes of running containers, from their cgroups (a live view until Ctrl-C, or once with --no-stream)
  top <container> [ps-options...]          the processes of a running container (ps options may follow)
  rename <container> <new-name>            give a container another name
  stop [options] <container...>            stop containers: the image's StopSignal (default SIGTERM), then SIGKILL after the timeout
  kill [options] <container...>            send a signal to running containers (default SIGKILL)
  rm [options] <container...>              remove containers
  exec [options] <container> <command...>  run a command in a running container
  attach <container>                       join this terminal to a running container started with -dit (detach: Ctrl-P Ctrl-Q); without a terminal: its output until it exits, signals passed on
  container                                manage containers
  help [command]                           display help for command
`;
