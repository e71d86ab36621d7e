// MSBuild task (compiled by RoslynCodeTaskFactory, see Directory.Build.targets at the repository root).
// libLibTorchSharp.so (TorchSharp 0.107.0) is linked with GCC 13 and asks for the symbol version
// GLIBCXX_3.4.32, which older libstdc++ (Debian 12: up to 3.4.30) lacks. Its only symbol of that version
// is the link-time marker _ZSt21ios_base_library_initv, which no relocation uses, so marking the version
// requirement weak (VER_FLG_WEAK in vna_flags of .gnu.version_r) lets glibc load the library unchanged
// otherwise. See docs/torch-backend.md.
using System;
using System.IO;
using System.Text;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

public class GlibcxxWeakVersionPatch : Task
{
    private const uint ShtGnuVerneed = 0x6ffffffe;
    private const ushort VerFlgWeak = 0x2;

    [Required] public ITaskItem[] Files { get; set; } = Array.Empty<ITaskItem>();

    public string VersionName { get; set; } = "GLIBCXX_3.4.32";

    public override bool Execute()
    {
        if (HostHasVersion())
        {
            Log.LogMessage(MessageImportance.Low, "Host libstdc++ provides {0}; no patch needed.", VersionName);
            return true;
        }
        foreach (var item in Files)
        {
            var path = item.ItemSpec;
            try
            {
                var state = Patch(path);
                Log.LogMessage(MessageImportance.Normal, "{0}: {1} marked weak ({2}).", path, VersionName, state);
            }
            catch (Exception e) when (e is IOException || e is InvalidDataException || e is UnauthorizedAccessException)
            {
                Log.LogError("Could not patch {0} for {1}: {2}", path, VersionName, e.Message);
            }
        }
        return !Log.HasLoggedErrors;
    }

    private bool HostHasVersion()
    {
        string[] candidates =
        {
            "/usr/lib/x86_64-linux-gnu/libstdc++.so.6", "/usr/lib/aarch64-linux-gnu/libstdc++.so.6",
            "/usr/lib64/libstdc++.so.6", "/usr/lib/libstdc++.so.6", "/lib/x86_64-linux-gnu/libstdc++.so.6",
        };
        var needle = Encoding.ASCII.GetBytes(VersionName + "\0");
        foreach (var candidate in candidates)
        {
            if (!File.Exists(candidate)) continue;
            var bytes = File.ReadAllBytes(candidate);
            return Contains(bytes, needle);
        }
        return false; // no system libstdc++ found: patching is harmless, so do it.
    }

    /// <summary>Sets VER_FLG_WEAK on the named version requirement; returns "patched" or "already weak".</summary>
    private string Patch(string path)
    {
        var elf = File.ReadAllBytes(path);
        if (elf.Length < 64 || elf[0] != 0x7f || elf[1] != (byte)'E' || elf[2] != (byte)'L' || elf[3] != (byte)'F')
            throw new InvalidDataException("not an ELF file");
        if (elf[4] != 2 || elf[5] != 1) throw new InvalidDataException("not a 64-bit little-endian ELF file");

        var shoff = (long)BitConverter.ToUInt64(elf, 0x28);
        int shentsize = BitConverter.ToUInt16(elf, 0x3A);
        int shnum = BitConverter.ToUInt16(elf, 0x3C);
        for (var s = 0; s < shnum; s++)
        {
            var sh = (int)(shoff + (long)s * shentsize);
            if (BitConverter.ToUInt32(elf, sh + 4) != ShtGnuVerneed) continue;
            var offset = (int)BitConverter.ToUInt64(elf, sh + 24);
            var link = (int)BitConverter.ToUInt32(elf, sh + 40);
            var entries = (int)BitConverter.ToUInt32(elf, sh + 44); // sh_info = number of Verneed entries
            var strtab = (int)BitConverter.ToUInt64(elf, (int)(shoff + (long)link * shentsize) + 24);

            var vn = offset;
            for (var i = 0; i < entries; i++)
            {
                int count = BitConverter.ToUInt16(elf, vn + 2);
                var vna = vn + (int)BitConverter.ToUInt32(elf, vn + 8);
                for (var j = 0; j < count; j++)
                {
                    var name = ReadCString(elf, strtab + (int)BitConverter.ToUInt32(elf, vna + 8));
                    if (name == VersionName)
                    {
                        var flags = BitConverter.ToUInt16(elf, vna + 4);
                        if ((flags & VerFlgWeak) != 0) return "already weak";
                        BitConverter.GetBytes((ushort)(flags | VerFlgWeak)).CopyTo(elf, vna + 4);
                        // Write a new file and move it over: never modify a hard-linked package cache copy.
                        var temp = path + ".patching";
                        File.WriteAllBytes(temp, elf);
                        File.Delete(path);
                        File.Move(temp, path);
                        return "patched";
                    }
                    vna += (int)BitConverter.ToUInt32(elf, vna + 12);
                }
                vn += (int)BitConverter.ToUInt32(elf, vn + 12);
            }
        }
        return "no such requirement";
    }

    private static bool Contains(byte[] haystack, byte[] needle)
    {
        for (var i = 0; i <= haystack.Length - needle.Length; i++)
        {
            var j = 0;
            while (j < needle.Length && haystack[i + j] == needle[j]) j++;
            if (j == needle.Length) return true;
        }
        return false;
    }

    private static string ReadCString(byte[] data, int start)
    {
        var end = Array.IndexOf(data, (byte)0, start);
        return Encoding.ASCII.GetString(data, start, end - start);
    }
}
