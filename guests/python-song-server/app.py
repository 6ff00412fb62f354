"""The seed's example server, in Python, as a WASI 0.2 component.

For each connection: receive up to 1 KiB, print it, reply with the song
file by the sendfile capability (the seed's `os.sendfile(client, src, 0,
0)`: the whole file), close, keep accepting.

Built with componentize-py against the repository's `wit/` (world
`plugin`):

    componentize-py -d wit -w plugin componentize app -o python-song-server.wasm

Run: `wasm-sendfile run python-song-server.wasm --dir-ro songs::/songs
--allow-bind 127.0.0.1:34422 -- /songs/Wheels.txt`. `SONG_ADDR` (default
127.0.0.1:34422, as in the seed) names the address; `SONG_MAX_CONNECTIONS`
stops it after that many connections.
"""

import os
import sys

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import instance_network, network, preopens, sendfile
from wit_world.imports import tcp_create_socket, types


def until_ready(socket, step):
    """Calls `step` until it stops saying would-block, waiting in between."""
    while True:
        try:
            return step()
        except Err as e:
            if e.value != network.ErrorCode.WOULD_BLOCK:
                raise
            socket.subscribe().block()


def listen(ip, port):
    """A listening IPv4 socket on ip:port."""
    socket = tcp_create_socket.create_tcp_socket(network.IpAddressFamily.IPV4)
    address = tuple(int(part) for part in ip.split("."))
    socket.start_bind(
        instance_network.instance_network(),
        network.IpSocketAddress_Ipv4(network.Ipv4SocketAddress(port, address)),
    )
    until_ready(socket, socket.finish_bind)
    socket.start_listen()
    until_ready(socket, socket.finish_listen)
    return socket


def open_file(path):
    """Opens `path` for reading through the preopen that contains it."""
    for directory, mount in preopens.get_directories():
        prefix = mount.rstrip("/") + "/"
        if path.startswith(prefix):
            return directory.open_at(
                types.PathFlags.SYMLINK_FOLLOW,
                path[len(prefix):],
                types.OpenFlags(0),
                types.DescriptorFlags.READ,
            )
    raise OSError(f"{path} is in no preopened directory")


def serve(song, ip, port, max_connections):
    print("Server socket created")
    server = listen(ip, port)
    print("Server bound with ip {} port {}".format(ip, port))
    count = 0
    while max_connections is None or count < max_connections:
        client, incoming, outgoing = until_ready(server, server.accept)
        count = count + 1
        print("Accepted {} connections till now".format(count))
        try:
            data = incoming.blocking_read(1024)
        except Err:
            data = b""
        print(data)
        if data != b"":
            source = open_file(song)
            # os.sendfile(client, src, 0, 0) on macOS: the whole file.
            sendfile.blocking_send_file(
                sendfile.Target_Socket(client),
                source,
                0,
                sendfile.Count_ToEof(),
                sendfile.SendOptions([], [], sendfile.SendFlags(0), None),
            )
            source.__exit__(None, None, None)
        # Streams first: they are children of the socket.
        incoming.__exit__(None, None, None)
        outgoing.__exit__(None, None, None)
        client.__exit__(None, None, None)
        print("Client connection closed")


class Run(exports.Run):
    def run(self) -> None:
        if len(sys.argv) < 2:
            print("usage: python-song-server SONG_PATH", file=sys.stderr)
            raise Err(None)
        ip, _, port = os.environ.get("SONG_ADDR", "127.0.0.1:34422").rpartition(":")
        limit = os.environ.get("SONG_MAX_CONNECTIONS")
        serve(sys.argv[1], ip, int(port), int(limit) if limit else None)
