using System.Security.Cryptography;
using System.Text;
using Avg.Cluster.Hosting;

namespace Avg.Silo.Http;

/// <summary>What a caller may do: read (search, stats, images, neighbours, protected pages) or also write (ingest, delete).</summary>
public enum ApiAccess
{
    None = 0,
    Read = 1,
    Write = 2,
}

/// <summary>
/// The configured API keys, held only as SHA-256 hashes: <c>Avg__ApiKeys</c> (plain, hashed here, full access),
/// <c>Avg__ReadKeyHashes</c> and <c>Avg__WriteKeyHashes</c>. A presented key is hashed and compared with every entry
/// in constant time, so neither the keys nor the timing of a lookup tell an attacker how close a guess was.
/// </summary>
public sealed class ApiKeyRing
{
    private readonly (byte[] Hash, ApiAccess Access)[] _entries;

    public ApiKeyRing(AvgSiloOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _entries =
        [
            .. options.ApiKeyList.Select(k => (Hash(k), ApiAccess.Write)),
            .. options.WriteKeyHashList.Select(h => (Convert.FromHexString(h), ApiAccess.Write)),
            .. options.ReadKeyHashList.Select(h => (Convert.FromHexString(h), ApiAccess.Read)),
        ];
    }

    /// <summary>False when no key is configured: then every caller has full access.</summary>
    public bool Enabled => _entries.Length > 0;

    /// <summary>The access <paramref name="key"/> grants (the widest of its entries) and a short id for rate limiting; None for an unknown key.</summary>
    public (ApiAccess Access, string CallerId) Find(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        var hash = Hash(key);
        var access = ApiAccess.None;
        foreach (var entry in _entries)
        {
            // Every entry is compared, match or not.
            var match = CryptographicOperations.FixedTimeEquals(hash, entry.Hash);
            access = match && entry.Access > access ? entry.Access : access;
        }

        return (access, "key:" + Convert.ToHexStringLower(hash.AsSpan(0, 8)));
    }

    public static byte[] Hash(string key) => SHA256.HashData(Encoding.UTF8.GetBytes(key));

    /// <summary>The hex SHA-256 of a key, as <c>Avg__ReadKeyHashes</c> and <c>Avg__WriteKeyHashes</c> take it.</summary>
    public static string HashHex(string key) => Convert.ToHexStringLower(Hash(key));
}
