//! The lab: throwaway namespaces, veth "domUs" and traffic probes.
