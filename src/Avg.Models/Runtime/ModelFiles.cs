using System.Text.Json;
using TorchSharp;

namespace Avg.Models.Runtime;

/// <summary>How every model is stored: TorchSharp weights at a path, and the options that shape the model beside them (path + ".json").</summary>
internal static class ModelFiles
{
    public static void Save<TOptions>(torch.nn.Module module, TOptions options, string path)
    {
        module.save(path);
        File.WriteAllText(OptionsPath(path), JsonSerializer.Serialize(options));
    }

    /// <summary>Reads the options saved beside <paramref name="path"/>; <paramref name="what"/> and <paramref name="remedy"/> name the model and the fix in errors.</summary>
    public static TOptions ReadOptions<TOptions>(string path, string what, string remedy)
    {
        var optionsPath = OptionsPath(path);
        if (!File.Exists(path) || !File.Exists(optionsPath))
            throw new DataFormatException(path, $"{what} weights or their options file ({optionsPath}) are missing; {remedy}");
        return JsonSerializer.Deserialize<TOptions>(File.ReadAllText(optionsPath))
            ?? throw new DataFormatException(optionsPath, $"empty {what} options.");
    }

    private static string OptionsPath(string path) => path + ".json";
}
