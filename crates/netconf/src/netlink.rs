//! The link, address and route calls netconf makes, behind [`Net`] so the applier is tested
//! against a recording fake; [`Netlink`] makes them with rtnetlink.

use std::net::IpAddr;

use futures_util::TryStreamExt;
use rtnetlink::packet_route::address::AddressAttribute;
use rtnetlink::packet_route::link::LinkAttribute;
use rtnetlink::{Handle, LinkUnspec, RouteMessageBuilder};

use crate::plan::{Cidr, Link};

/// Netlink operations; errors are the kernel's messages.
#[allow(async_fn_in_trait)] // only used with static dispatch on one thread
pub trait Net {
    /// Every link.
    async fn links(&self) -> Result<Vec<Link>, String>;
    /// Sets the MTU (when not 0) and brings the link up.
    async fn up(&self, index: u32, mtu: u32) -> Result<(), String>;
    /// The addresses on a link.
    async fn addresses(&self, index: u32) -> Result<Vec<Cidr>, String>;
    /// Adds an address; one already present is not an error.
    async fn add_address(&self, index: u32, cidr: Cidr) -> Result<(), String>;
    /// Removes an address.
    async fn del_address(&self, index: u32, cidr: Cidr) -> Result<(), String>;
    /// Adds a default route through `gateway` on the link; one already present is not an error.
    async fn add_default_route(&self, index: u32, gateway: IpAddr) -> Result<(), String>;
}

/// [`Net`] over an rtnetlink connection.
#[derive(Debug, Clone)]
pub struct Netlink {
    handle: Handle,
}

impl Netlink {
    /// Opens a connection; its driver task runs on the current tokio runtime.
    pub fn connect() -> std::io::Result<Self> {
        let (connection, handle, _) = rtnetlink::new_connection()?;
        tokio::spawn(connection);
        Ok(Self { handle })
    }
}

/// `File exists`: the address or route is already there.
fn exists(e: &rtnetlink::Error) -> bool {
    matches!(e, rtnetlink::Error::NetlinkError(m)
        if m.to_io().kind() == std::io::ErrorKind::AlreadyExists)
}

impl Net for Netlink {
    async fn links(&self) -> Result<Vec<Link>, String> {
        let mut stream = self.handle.link().get().execute();
        let mut links = Vec::new();
        while let Some(msg) = stream.try_next().await.map_err(|e| e.to_string())? {
            let mut link = Link {
                name: String::new(),
                index: msg.header.index,
                mac: String::new(),
            };
            for attr in &msg.attributes {
                match attr {
                    LinkAttribute::IfName(name) => link.name.clone_from(name),
                    LinkAttribute::Address(mac) if mac.len() == 6 => {
                        link.mac = mac
                            .iter()
                            .map(|b| format!("{b:02x}"))
                            .collect::<Vec<_>>()
                            .join(":");
                    }
                    _ => {}
                }
            }
            links.push(link);
        }
        Ok(links)
    }

    async fn up(&self, index: u32, mtu: u32) -> Result<(), String> {
        let mut message = LinkUnspec::new_with_index(index).up();
        if mtu != 0 {
            message = message.mtu(mtu);
        }
        self.handle
            .link()
            .set(message.build())
            .execute()
            .await
            .map_err(|e| e.to_string())
    }

    async fn addresses(&self, index: u32) -> Result<Vec<Cidr>, String> {
        let mut stream = self
            .handle
            .address()
            .get()
            .set_link_index_filter(index)
            .execute();
        let mut out = Vec::new();
        while let Some(msg) = stream.try_next().await.map_err(|e| e.to_string())? {
            for attr in &msg.attributes {
                if let AddressAttribute::Address(addr) = attr {
                    out.push(Cidr {
                        addr: *addr,
                        prefix: msg.header.prefix_len,
                    });
                }
            }
        }
        Ok(out)
    }

    async fn add_address(&self, index: u32, cidr: Cidr) -> Result<(), String> {
        match self
            .handle
            .address()
            .add(index, cidr.addr, cidr.prefix)
            .execute()
            .await
        {
            Err(e) if !exists(&e) => Err(e.to_string()),
            _ => Ok(()),
        }
    }

    async fn del_address(&self, index: u32, cidr: Cidr) -> Result<(), String> {
        let mut stream = self
            .handle
            .address()
            .get()
            .set_link_index_filter(index)
            .set_address_filter(cidr.addr)
            .set_prefix_length_filter(cidr.prefix)
            .execute();
        while let Some(msg) = stream.try_next().await.map_err(|e| e.to_string())? {
            self.handle
                .address()
                .del(msg)
                .execute()
                .await
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    async fn add_default_route(&self, index: u32, gateway: IpAddr) -> Result<(), String> {
        let route = match gateway {
            IpAddr::V4(gw) => RouteMessageBuilder::<std::net::Ipv4Addr>::new()
                .output_interface(index)
                .gateway(gw)
                .build(),
            IpAddr::V6(gw) => RouteMessageBuilder::<std::net::Ipv6Addr>::new()
                .output_interface(index)
                .gateway(gw)
                .build(),
        };
        match self.handle.route().add(route).execute().await {
            Err(e) if !exists(&e) => Err(e.to_string()),
            _ => Ok(()),
        }
    }
}
