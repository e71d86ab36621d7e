using System.Net;
using System.Net.Sockets;

namespace Avg.Cluster.Hosting;

/// <summary>
/// Free loopback TCP ports for local silos (demo, benchmarks, tests). All listeners are bound before any is released,
/// so the ports of one call are distinct; another process may still take one before it is used.
/// </summary>
public static class LoopbackPorts
{
    public static int[] Take(int count)
    {
        var listeners = Enumerable.Range(0, count).Select(_ => new TcpListener(IPAddress.Loopback, 0)).ToArray();
        foreach (var listener in listeners)
        {
            listener.Start();
        }

        var ports = listeners.Select(listener => ((IPEndPoint)listener.LocalEndpoint).Port).ToArray();
        foreach (var listener in listeners)
        {
            listener.Stop();
        }

        return ports;
    }
}
