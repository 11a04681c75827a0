#!/usr/bin/env python3
# Re-derives every vector of docs/protocol.md from the document alone, without tessera-core:
# framing (COBS, zlib CRC-32), hashes, host and SSHSIG signatures (ed25519), and opens the sealed
# secret with a hand-written RFC 9180 key schedule. Proves the document is precise enough to
# reimplement. Not run by cargo test; run by hand: python3 agent/core/tests/vectors_independent.py
# (needs python3-cryptography).
import os
os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..'))
import re, zlib, hashlib, struct
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey, Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
doc = open('docs/protocol.md').read()
v = {m.group(1): bytes.fromhex(''.join(m.group(2).split())) for m in re.finditer(r'<!-- vector: ([a-z-]+) -->\n```hex\n(.*?)```', doc, re.S)}
def cobs_dec(d):
    out=bytearray(); i=0
    while i < len(d):
        c=d[i]; assert c!=0; out+=d[i+1:i+c]; i+=c
        if c<0xff and i<len(d): out.append(0)
    return bytes(out)
def frame_payload(f):
    assert f[:2]==b'\x00\xfe' and f[-1]==0 and 0 not in f[2:-1]
    d=cobs_dec(f[2:-1]); p,crc=d[:-4],d[-4:]
    assert struct.pack('<I', zlib.crc32(p))==crc; return p
seed=lambda b: Ed25519PrivateKey.from_private_bytes(bytes([b])*32)
raw=lambda k: k.public_bytes_raw()
assert raw(seed(0x11).public_key())==v['host-public-key']
assert raw(seed(0x22).public_key())==v['admin-public-key']
assert X25519PrivateKey.from_private_bytes(b'\x44'*32).public_key().public_bytes_raw()==v['ephemeral-public-key']
ch=frame_payload(v['challenge-frame'])
assert hashlib.sha256(ch).digest()==v['challenge-hash']
assert ch[0]==1 and ch[1]==1
Ed25519PublicKey.from_public_bytes(v['host-public-key']).verify(ch[-64:], b'tessera-v1 challenge\0'+ch[1:-64])
hid=b'web1'; boot=b'\x55'*16
assert v['hpke-info']==b'tessera-v1 seal\0'+bytes([len(hid)])+hid+boot+v['challenge-hash']
assert v['hpke-aad']==bytes([10])+b'root_crypt'
un=frame_payload(v['unlock-frame'])
assert hashlib.sha256(un).digest()==v['token-hash']
M=b'tessera-v1 unlock\0'+v['challenge-hash']+un[1:-64]
assert M==v['sshsig-message']
s=lambda x: struct.pack('>I',len(x))+x
sd=b'SSHSIG'+s(b'unlock@tessera')+s(b'')+s(b'sha512')+s(hashlib.sha512(M).digest())
assert sd==v['sshsig-signed-data'] and len(sd)==106
Ed25519PublicKey.from_public_bytes(v['admin-public-key']).verify(un[-64:], sd)
res=frame_payload(v['result-frame'])
Ed25519PublicKey.from_public_bytes(v['host-public-key']).verify(res[-64:], b'tessera-v1 result\0'+v['token-hash']+res[1:-64])
assert len(v['challenge-frame'])+len(v['unlock-frame'])+len(v['result-frame'])==490
# HPKE open with the doc's inputs (RFC 9180 base mode, hand-written key schedule)

from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
def extract(salt, ikm):
    h=hmac.HMAC(salt or b'\0'*32, hashes.SHA256()); h.update(ikm); return h.finalize()

def _exp(prk, info, L):
    out=b''; t=b''; i=1
    while len(out)<L:
        h=hmac.HMAC(prk, hashes.SHA256()); h.update(t+info+bytes([i])); t=h.finalize(); out+=t; i+=1
    return out[:L]
def lext(sid, salt, label, ikm): return extract(salt, b'HPKE-v1'+sid+label+ikm)
def lexp(sid, prk, label, info, L): return _exp(prk, struct.pack('>H',L)+b'HPKE-v1'+sid+label+info, L)
kem_id=b'KEM'+struct.pack('>H',0x20); suite=b'HPKE'+struct.pack('>HHH',0x20,1,3)
# parse unlock body: host_id, boot_id, admin_key, enc, volumes
b=un[1:-64]; n=b[0]; p=1+n; p+=16; p+=32; enc=b[p:p+32]; p+=32
assert b[p]==1; p+=1; ln=b[p]; name=b[p+1:p+1+ln]; p+=1+ln; clen=b[p]; ct=b[p+1:p+1+clen]
sk=X25519PrivateKey.from_private_bytes(b'\x44'*32)
dh=sk.exchange(X25519PublicKey.from_public_bytes(enc))
kem_ctx=enc+v['ephemeral-public-key']
eae=lext(kem_id,b'',b'eae_prk',dh); shared=lexp(kem_id,eae,b'shared_secret',kem_ctx,32)
psk_id_hash=lext(suite,b'',b'psk_id_hash',b''); info_hash=lext(suite,b'',b'info_hash',v['hpke-info'])
ctx=bytes([0])+psk_id_hash+info_hash
secret=lext(suite,shared,b'secret',b'')
key=lexp(suite,secret,b'key',ctx,32); nonce=lexp(suite,secret,b'base_nonce',ctx,12)
pt=ChaCha20Poly1305(key).decrypt(nonce, ct, v['hpke-aad'])
assert pt==b'correct horse battery staple', pt

# The window and the refusals (docs/protocol.md section 7, last parts): every frame is rebuilt
# from the document's rules; ed25519 signatures are deterministic, so signed frames are compared
# byte for byte.
def cobs_enc(d):
    out=bytearray(); blk=bytearray()
    for b in d:
        if b==0:
            out.append(len(blk)+1); out+=blk; blk=bytearray()
        else:
            blk.append(b)
            if len(blk)==254: out.append(255); out+=blk; blk=bytearray()
    out.append(len(blk)+1); out+=blk
    return bytes(out)
def frame(p): return b'\x00\xfe'+cobs_enc(p+struct.pack('<I', zlib.crc32(p)))+b'\x00'
assert frame(ch)==v['challenge-frame'] and frame(un)==v['unlock-frame']
host=seed(0x11)
def name_(n): return bytes([len(n)])+n
def x25519_pub(b): return X25519PrivateKey.from_private_bytes(bytes([b])*32).public_key().public_bytes_raw()
def challenge(host_id=b'web1', boot=boot, eph=0x44, state=0):
    body=bytes([1])+name_(host_id)+v['host-public-key']+boot+x25519_pub(eph)+bytes([1])+name_(b'root_crypt')+bytes([state])
    return bytes([1])+body+host.sign(b'tessera-v1 challenge\0'+body)
def result(token_payload, verdict):
    body=boot+verdict
    return frame(bytes([3])+body+host.sign(b'tessera-v1 result\0'+hashlib.sha256(token_payload).digest()+body))
assert challenge()==ch
assert result(un, bytes([1,1])+name_(b'root_crypt')+bytes([0]))==v['result-frame']
# A hello after root_crypt opened: the new challenge lists it Unlocked, with ephemeral 32 x 77.
renewed=challenge(eph=0x77, state=1)
assert frame(renewed)==v['renewed-challenge-frame']
# The token made for the first challenge does not verify over the renewed challenge's hash ...
M2=b'tessera-v1 unlock\0'+hashlib.sha256(renewed).digest()+un[1:-64]
sd2=b'SSHSIG'+s(b'unlock@tessera')+s(b'')+s(b'sha512')+s(hashlib.sha512(M2).digest())
try:
    Ed25519PublicKey.from_public_bytes(v['admin-public-key']).verify(un[-64:], sd2); assert False
except Exception as e:
    assert type(e).__name__=='InvalidSignature', e
# ... so the previous challenge takes it: the result answers the token, volume NotWaiting (2).
assert result(un, bytes([1,1])+name_(b'root_crypt')+bytes([2]))==v['crossed-result-frame']
refused=lambda reason: bytes([0, reason])  # Verdict::Refused, Refusal index
assert result(un, refused(6))==v['replayed-result']
assert result(un, refused(4))==v['bad-signature-result']
mal=frame_payload(v['malformed-token'])
assert mal==b'\x02' and result(mal, refused(0))==v['malformed-result']
# A token as the tool makes it for another challenge: same admin, same HPKE ikm (so the HPKE enc
# and sealed secret differ only through info), signed over that challenge's hash.
def check_token(tok, other, host_id, boot_):
    t=frame_payload(tok); b=t[1:-64]
    assert b[:1+len(host_id)+16]==name_(host_id)+boot_ and b[1+len(host_id)+16:][:32]==v['admin-public-key']
    M=b'tessera-v1 unlock\0'+hashlib.sha256(other).digest()+b
    sd=b'SSHSIG'+s(b'unlock@tessera')+s(b'')+s(b'sha512')+s(hashlib.sha512(M).digest())
    Ed25519PublicKey.from_public_bytes(v['admin-public-key']).verify(t[-64:], sd)
    return t
wh=check_token(v['wrong-host-token'], challenge(host_id=b'web2'), b'web2', boot)
assert result(wh, refused(1))==v['wrong-host-result']
sb=check_token(v['stale-boot-token'], challenge(boot=b'\x56'*16), b'web1', b'\x56'*16)
assert result(sb, refused(2))==v['stale-boot-result']
# §8 heartbeat: seed 32 x 88, web1, boot 16 x 55, counter 300 (varint ac 02), OB|DISCHRG = 0x42, 87 %.
hb_key=Ed25519PrivateKey.from_private_bytes(b'\x88'*32)
assert hb_key.public_key().public_bytes_raw()==v['heartbeat-public-key']
hb_body=bytes([1])+name_(b'web1')+boot+bytes([0xac,0x02])+bytes([1,0x42,1,87])
assert frame(b'H'+hb_body+hb_key.sign(b'tessera-v1 heartbeat\0'+hb_body))==v['heartbeat-frame']
assert v['heartbeat-accepted-ack']==b'A\x00\xac\x02' and v['heartbeat-replayed-ack']==b'A\x03\xac\x02'
print('all vectors re-derived independently: OK')
