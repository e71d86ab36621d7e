namespace Avg.Deploy.Tests.Support;

/// <summary>Paths of the repository's deployment files, found from the test binary by walking up to the solution.</summary>
public static class Repo
{
    private static readonly Lazy<string> RootPath = new(FindRoot);

    public static string Root => RootPath.Value;

    public static string Chart => Path.Combine(Root, "helm", "avg-cluster");

    public static string Deploy => Path.Combine(Root, "deploy");

    public static string File(params string[] parts) => Path.Combine([Root, .. parts]);

    public static string Read(params string[] parts) => System.IO.File.ReadAllText(File(parts));

    private static string FindRoot()
    {
        for (var folder = new DirectoryInfo(AppContext.BaseDirectory); folder is not null; folder = folder.Parent)
        {
            if (System.IO.File.Exists(Path.Combine(folder.FullName, "Avg.Cluster.sln")))
            {
                return folder.FullName;
            }
        }

        throw new InvalidOperationException($"Avg.Cluster.sln not found above {AppContext.BaseDirectory}.");
    }
}
