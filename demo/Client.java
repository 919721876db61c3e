// A Java client with no knowledge of tnat64: Java's sockets are dual-stack AF_INET6 ones, so an
// IPv4 destination is connected as ::ffff:a.b.c.d, which kernel mode rewrites.
//   java Client.java http://198.51.100.10:8000/   prints the body and the socket's peer
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;

public class Client {
    public static void main(String[] args) throws Exception {
        URI uri = URI.create(args[0]);
        try (Socket socket = new Socket()) {
            socket.connect(new InetSocketAddress(uri.getHost(), uri.getPort()), 5000);
            OutputStream out = socket.getOutputStream();
            out.write(("GET " + uri.getPath() + " HTTP/1.0\r\nHost: " + uri.getHost() + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            out.flush();
            InputStream in = socket.getInputStream();
            String reply = new String(in.readAllBytes(), StandardCharsets.US_ASCII);
            System.out.println("body=" + reply.substring(reply.indexOf("\r\n\r\n") + 4).trim());
            System.out.println("peer=" + socket.getRemoteSocketAddress());
        }
    }
}
