export { loadTlsMaterial, type TlsFiles, type TlsMaterial, type TlsFieldNames } from "./tls-files.js";
export { identitiesOf, identitiesOfPem, principalNameOf, isIdentityAllowed, certificateName, ANY_IDENTITY, type CertificateFields } from "./peer-identity.js";
export {
  createCa,
  issueCertificate,
  createDevPki,
  type CertFiles,
  type CertificateUsage,
  type CreateCaOptions,
  type IssueCertificateOptions,
  type DevPkiOptions,
  type DevPki,
} from "./dev-pki.js";
export { TlsServerCredentials, type MtlsFiles } from "./server-credentials.js";
